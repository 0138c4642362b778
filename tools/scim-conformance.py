"""Runs scim2-tester's `check_server` against a SCIM base URL and prints one line per check.

Used by tools/scim-conformance.sh, which starts rosterd and installs the pinned scim2-tester.
Exit status: 0 when no check ended in ERROR or CRITICAL (a MUST violated), 1 otherwise, 2 when the
checker itself could not run. DEVIATION (a SHOULD not followed) is reported but does not fail,
unless --strict is given. A failure listed in --known-failures is reported as KNOWN and does not
fail the run; a listed failure that no longer happens is reported as FIXED (remove its line).

    python scim-conformance.py --url http://127.0.0.1:18180/scim/v2 --token-file TOKEN [-v]
        [--http-log FILE] [--known-failures FILE] [--strict] [--email-domain DOMAIN]

A known-failures file has one key a line, `RESOURCE CHECK [ATTRIBUTE-PATH]` as printed after
`key:` for each failure (`-` for checks on no resource type); `#` starts a comment.
"""

import argparse
import json
import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILING = {Status.ERROR, Status.CRITICAL}


def http_logger(path):
    """httpx event hooks that append every request and response to `path`."""
    out = open(path, "w", encoding="utf-8")

    def on_request(request):
        body = request.content.decode("utf-8", "replace") if request.content else ""
        out.write(f">>> {request.method} {request.url}\n{body}\n")

    def on_response(response):
        response.read()
        out.write(
            f"<<< {response.status_code} {response.headers.get('content-type', '')}\n"
            f"{response.text}\n\n"
        )
        out.flush()

    return {"request": [on_request], "response": [on_response]}


def use_email_domain(domain):
    """Makes every email address scim2-tester generates (`<uuid>@<uuid>.com`) an address in
    `domain`, which the run has verified: Roster refuses email changes to unverified domains."""
    import re

    import scim2_tester.filling as filling
    from scim2_tester.checkers import patch_add, patch_replace

    generated = re.compile(r"^([0-9a-f-]{36})@[0-9a-f-]{36}\.com$")
    original = filling.generate_random_value

    def generate_random_value(*args, **kwargs):
        value = original(*args, **kwargs)
        if isinstance(value, str) and (match := generated.match(value)):
            value = f"{match.group(1)}@{domain}"
        return value

    for module in (filling, patch_add, patch_replace):
        module.generate_random_value = generate_random_value


def failure_key(result):
    """The key a failure is listed under in a known-failures file."""
    key = f"{result.resource_type or '-'} {result.title}"
    if isinstance(result.data, dict) and isinstance(result.data.get("urn"), str):
        key += f" {result.data['urn']}"
    return key


def read_known(path):
    known = set()
    if not path:
        return known
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                known.add(" ".join(line.split()))
    return known


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="SCIM base URL, e.g. .../scim/v2")
    parser.add_argument("--token-file", required=True, help="file holding the bearer token")
    parser.add_argument("--http-log", help="append every request and response to this file")
    parser.add_argument("--strict", action="store_true", help="DEVIATION fails too")
    parser.add_argument("--known-failures", help="file of failures that do not fail the run")
    parser.add_argument("-v", "--verbose", action="store_true", help="show data of failures")
    parser.add_argument("--email-domain", help="generate every email address in this domain")
    args = parser.parse_args()
    if args.email_domain:
        use_email_domain(args.email_domain)

    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    hooks = http_logger(args.http_log) if args.http_log else None
    http = Client(
        base_url=args.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
        event_hooks=hooks,
    )
    client = SyncSCIMClient(http)

    try:
        results = check_server(client)
    except Exception as exc:  # the checker itself broke, not a check
        print(f"scim2-tester could not run: {exc!r}", file=sys.stderr)
        return 2

    failing = FAILING | ({Status.DEVIATION} if args.strict else set())
    known = read_known(args.known_failures)
    seen_known = set()
    counts = Counter()
    unexpected = 0
    expected = 0
    for result in results:
        counts[result.status.name] += 1
        where = f"[{result.resource_type}] " if result.resource_type else ""
        label = result.status.name
        if result.status in failing:
            key = failure_key(result)
            if key in known:
                seen_known.add(key)
                expected += 1
                label = "KNOWN"
            else:
                unexpected += 1
        print(f"{label:<10} {where}{result.title}")
        if result.status not in (Status.SUCCESS, Status.SKIPPED) and result.reason:
            for line in result.reason.splitlines():
                print(f"           {line}")
        if result.status in failing:
            print(f"           key: {failure_key(result)}")
            if args.verbose and result.data is not None:
                try:
                    data = json.dumps(result.data, default=str)[:2000]
                except Exception:
                    data = repr(result.data)[:2000]
                print(f"           data: {data}")
    for key in sorted(known - seen_known):
        print(f"FIXED      {key} (listed in {args.known_failures}, did not fail: remove the line)")

    summary = ", ".join(f"{counts[s.name]} {s.name.lower()}" for s in Status if counts[s.name])
    print(f"scim2-tester: {len(results)} checks: {summary}")
    print(f"scim2-tester: {unexpected} unexpected failures, {expected} known")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
