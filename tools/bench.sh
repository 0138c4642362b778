#!/usr/bin/env bash
# Benchmarks of the foundation (issue 3), run by hand (`just bench`), never in CI.
#
# For each backend (sqlite, postgres) and size (10k, 100k users): start a release rosterd on a fresh
# database, seed the users, then measure over gRPC with roster-loadgen:
#   - GetUser by userName: p50/p99 with 8 concurrent clients,
#   - ListUsers with the filter userName eq "...": the same,
#   - CreateUser throughput with 8 concurrent clients,
#   - rosterd's resident memory after the run.
# Usage: tools/bench.sh [sqlite|postgres|all] [sizes...]   (default: all 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
backends="${1:-all}"
shift || true
sizes="${*:-10000 100000}"
[ "$backends" = all ] && backends="sqlite postgres"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"

cargo build --release -p roster-services -p roster-loadgen --bins
rosterd=target/release/rosterd
loadgen=target/release/roster-loadgen

server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

for backend in $backends; do
    for size in $sizes; do
        work=$(mktemp -d)
        case "$backend" in
            sqlite) url="sqlite://$work/bench.db?mode=rwc" ;;
            postgres)
                db="roster_bench_$size"
                psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
                url="${PG_ADMIN_URL%/*}/$db" ;;
        esac
        RUST_LOG=warn "$rosterd" --database-url "$url" --grpc-addr 127.0.0.1:50151 --http-addr 127.0.0.1:8151 \
            --bootstrap-token-file "$work/token" > "$work/rosterd.out" 2>&1 &
        server_pid=$!
        for _ in $(seq 1 100); do [ -s "$work/token" ] && break; sleep 0.1; done
        export ROSTER_TOKEN
        ROSTER_TOKEN=$(cat "$work/token")
        lg() { "$loadgen" --server http://127.0.0.1:50151 "$@"; }
        label="$backend-$size"
        echo "== $label"
        lg --concurrency 8 seed --users "$size" | tee "$out/$label-seed.txt"
        lg --concurrency 8 lookup --users "$size" --requests 40000 --pid "$server_pid" | tee "$out/$label-get.txt"
        lg --concurrency 8 lookup --users "$size" --requests 40000 --filter | tee "$out/$label-filter.txt"
        lg --concurrency 8 create --count 20000 --pid "$server_pid" | tee "$out/$label-create.txt"
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
        rm -rf "$work"
    done
done
echo "results in $out/"
