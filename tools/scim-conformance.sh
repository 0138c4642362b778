#!/usr/bin/env bash
# SCIM conformance: runs the third-party checker scim2-tester against a fresh rosterd.
#
#   bash tools/scim-conformance.sh [PATH/TO/rosterd]      (default target/debug/rosterd)
#
# Builds nothing: build rosterd and rosterctl first (`cargo build --bin rosterd --bin rosterctl`).
# Starts rosterd on a temporary SQLite database and a free loopback port, installs the pinned scim2-tester into a cached venv
# (${XDG_CACHE_HOME:-$HOME/.cache}/roster-ci/venv, with pip from the package index), runs every
# check against http://127.0.0.1:PORT/scim/v2 with the bootstrap admin token, prints the report and
# stops rosterd. Exits non-zero if any check ends in ERROR or CRITICAL (a MUST of RFC 7643/7644
# violated) that tools/scim-conformance.known-failures does not list, or if anything on the way
# fails (the whole run is bounded by SCIM_CONFORMANCE_TOTAL_TIMEOUT, default 900 s).
#
# Environment: SCIM_CONFORMANCE_TIMEOUT (seconds for the checker itself, default 300),
# SCIM_CONFORMANCE_KNOWN_FAILURES=FILE (default tools/scim-conformance.known-failures; empty: none,
# so every failure fails the run), SCIM_CONFORMANCE_STRICT=1 (DEVIATION, a SHOULD not followed,
# fails too), SCIM_CONFORMANCE_HTTP_LOG=FILE (every request and response the checker sent and got),
# SCIM_CONFORMANCE_VERBOSE=1 (the data attached to failing checks).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ROSTERD="${1:-$root/target/debug/rosterd}"
case "$ROSTERD" in /*) ;; *) ROSTERD="$PWD/$ROSTERD" ;; esac
cd "$root"

# The whole run, install included, under one time limit (timeout signals the whole process group,
# rosterd too; the EXIT trap below cleans up on TERM).
if [ -z "${SCIM_CONFORMANCE_UNDER_TIMEOUT:-}" ]; then
    export SCIM_CONFORMANCE_UNDER_TIMEOUT=1
    status=0
    timeout --kill-after=15 "${SCIM_CONFORMANCE_TOTAL_TIMEOUT:-900}" \
        bash "$root/tools/scim-conformance.sh" "$ROSTERD" || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "scim-conformance: did not finish within ${SCIM_CONFORMANCE_TOTAL_TIMEOUT:-900}s" >&2
    fi
    exit "$status"
fi

# Pinned: scim2-tester and the libraries whose behaviour it tests through.
PIN_REQUIREMENTS=(
    "scim2-tester==0.5.2"
    "scim2-client[httpx2]==0.13.2"
    "scim2-models==0.12.3"
    "httpx2==2.16.2"
)
TIMEOUT="${SCIM_CONFORMANCE_TIMEOUT:-300}"
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/roster-ci/venv"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$ROSTERD" ]; then
    echo "scim-conformance: no rosterd binary at $ROSTERD (cargo build --bin rosterd)" >&2
    exit 1
fi

# The venv, (re)made when missing or when the pins changed.
stamp="$VENV/.roster-pins"
if [ "$(cat "$stamp" 2>/dev/null)" != "${PIN_REQUIREMENTS[*]}" ] ||
    ! "$VENV/bin/python" -c 'import scim2_tester, httpx2' 2>/dev/null; then
    echo "== scim-conformance: installing ${PIN_REQUIREMENTS[*]} into $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
        "${PIN_REQUIREMENTS[@]}"
    echo "${PIN_REQUIREMENTS[*]}" >"$stamp"
fi

tmp=$(mktemp -d)
rosterd_pid=""
cleanup() {
    if [ -n "$rosterd_pid" ] && kill -0 "$rosterd_pid" 2>/dev/null; then
        kill "$rosterd_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$rosterd_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$rosterd_pid" 2>/dev/null || true
        wait "$rosterd_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
grpc_port=$(free_port)
base="http://127.0.0.1:$port"

echo "== scim-conformance: starting rosterd on $base"
NO_COLOR=1 "$ROSTERD" \
    --database-url "sqlite://$tmp/roster.db?mode=rwc" \
    --grpc-addr "127.0.0.1:$grpc_port" \
    --http-addr "127.0.0.1:$port" \
    --bootstrap-token-file "$tmp/token" \
    >"$tmp/rosterd.log" 2>&1 &
rosterd_pid=$!

ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$rosterd_pid" 2>/dev/null; then
        break
    fi
    if [ -s "$tmp/token" ] && "$VENV/bin/python" - "$base/readyz" <<'EOF' 2>/dev/null; then
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
EOF
        ready=1
        break
    fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "scim-conformance: rosterd did not become ready; its log:" >&2
    cat "$tmp/rosterd.log" >&2
    exit 1
fi

# Roster lets an organization change a user's email addresses only to addresses in domains it has
# verified, and the checker replaces and patches emails of the users it creates. So the run
# verifies one domain by hand (rosterctl, next to rosterd, as the operator) and
# scim-conformance.py makes every email the checker generates an address in it.
ROSTERCTL="$(dirname "$ROSTERD")/rosterctl"
if [ ! -x "$ROSTERCTL" ]; then
    echo "scim-conformance: no rosterctl next to rosterd (cargo build --bin rosterctl)" >&2
    exit 1
fi
EMAIL_DOMAIN="conformance.example"
ctl() {
    "$ROSTERCTL" --server "http://127.0.0.1:$grpc_port" --token "$(cat "$tmp/token")" --json "$@"
}
domain_id=$(ctl domain register "$EMAIL_DOMAIN" |
    "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')
ctl domain mark-verified "$domain_id" >/dev/null

args=(--url "$base/scim/v2" --token-file "$tmp/token" --email-domain "$EMAIL_DOMAIN")
[ "${SCIM_CONFORMANCE_STRICT:-}" = 1 ] && args+=(--strict)
[ "${SCIM_CONFORMANCE_VERBOSE:-}" = 1 ] && args+=(--verbose)
[ -n "${SCIM_CONFORMANCE_HTTP_LOG:-}" ] && args+=(--http-log "$SCIM_CONFORMANCE_HTTP_LOG")
known="${SCIM_CONFORMANCE_KNOWN_FAILURES-tools/scim-conformance.known-failures}"
[ -n "$known" ] && args+=(--known-failures "$known")

echo "== scim-conformance: scim2-tester against $base/scim/v2"
status=0
timeout --kill-after=10 "$TIMEOUT" "$VENV/bin/python" tools/scim-conformance.py "${args[@]}" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "scim-conformance: the checker did not finish within ${TIMEOUT}s" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "scim-conformance: FAILED (exit $status); rosterd's last warnings and errors:" >&2
    grep -E ' (WARN|ERROR) ' "$tmp/rosterd.log" | tail -n 20 >&2 || echo "(none)" >&2
fi
exit "$status"
