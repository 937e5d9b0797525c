#!/usr/bin/env bash
# The project's one test command (README, CI): formatting, lints, then every test of the
# workspace. MongoDB tests use $USERS_TEST_MONGODB_URI when set; otherwise this script
# builds and starts the FerretDB test server (tools/ferretdb) when Go is available.
# Under CI=true the MongoDB tests must run: missing Go is then an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

ferret_pid=""
ferret_dir=""
cleanup() {
  if [ -n "$ferret_pid" ]; then scripts/ferretdb.sh stop "$ferret_pid" >/dev/null 2>&1 || true; fi
  if [ -n "$ferret_dir" ]; then rm -rf "$ferret_dir"; fi
}
trap cleanup EXIT

# The fault test stops and restarts its own FerretDB, so build it whenever Go is here.
if command -v go >/dev/null 2>&1; then
  scripts/ferretdb.sh build >/dev/null
fi

if [ -z "${USERS_TEST_MONGODB_URI:-}" ]; then
  if command -v go >/dev/null 2>&1; then
    ferret_dir=$(mktemp -d)
    out=$(scripts/ferretdb.sh start "$ferret_dir")
    ferret_pid=$(printf '%s\n' "$out" | sed -n 's/^PID=//p')
    USERS_TEST_MONGODB_URI=$(printf '%s\n' "$out" | sed -n 's/^URI=//p')
    export USERS_TEST_MONGODB_URI
    echo "test.sh: MongoDB tests run against FerretDB at $USERS_TEST_MONGODB_URI"
  elif [ "${CI:-}" = "true" ]; then
    echo "test.sh: CI=true but neither USERS_TEST_MONGODB_URI nor Go is available; the MongoDB tests cannot be skipped in CI" >&2
    exit 1
  else
    echo "test.sh: skipped: set USERS_TEST_MONGODB_URI (or install Go) to run the MongoDB tests"
  fi
fi
if [ "${CI:-}" = "true" ]; then export USERS_TEST_REQUIRE_MONGODB=1; fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The end-to-end suite once more on each persistent store (the run above used memory).
USERS_E2E_STORE=embedded cargo test -p app --test api --locked
if [ -n "${USERS_TEST_MONGODB_URI:-}" ]; then
  USERS_E2E_STORE=mongo cargo test -p app --test api --locked
fi

# Deployment manifests: kubeconform -strict (offline schemas), compose, Dockerfile checks.
scripts/check-deploy.sh
