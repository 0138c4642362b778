# Daily entry points. Nothing here is required: README's commands need only cargo.

pg_url := "postgres://postgres@127.0.0.1:5432/postgres"

# Run rosterd on ./roster.db (prints the first admin token on first start).
run:
    cargo run --release --bin rosterd

fmt:
    cargo fmt --all

fmt-check:
    cargo fmt --all -- --check

clippy:
    cargo clippy --workspace --all-targets -- -D warnings

# Tests on SQLite.
test:
    cargo test --workspace

# Tests on the local PostgreSQL (each test makes and drops its own database).
test-pg:
    ROSTER_TEST_DATABASE_URL={{pg_url}} cargo test --workspace

# What CI runs.
ci:
    bash .ci/run

# Benchmarks (by hand, release build): see tools/bench.sh.
bench *args:
    bash tools/bench.sh {{args}}

# casbin enforcement at 10,000 rules (criterion, release build).
bench-policy:
    cargo bench -p roster-services --bench policy

# SCIM facade targets of issue 4 (release build): tools/bench-scim.sh [sqlite|postgres|all].
bench-scim *args:
    bash tools/bench-scim.sh {{args}}
