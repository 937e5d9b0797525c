#!/usr/bin/env bash
# Fresh-machine proof: clone the repository into a temporary directory and run the README's
# run command exactly as written, in the background, until /health answers on port 3003.
# The README's test command must be the one .ci/run runs. Both commands are read from the
# README's "Two commands" block, so the README cannot rot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

block=$(awk '/^## Two commands/{f=1} f&&/^```sh/{b=1;next} b&&/^```/{exit} b' "$root/README.md")
commands=$(printf '%s\n' "$block" | grep -v '^#' | grep -v '^[[:space:]]*$' || true)
run_cmd=$(printf '%s\n' "$commands" | sed -n 1p)
test_cmd=$(printf '%s\n' "$commands" | sed -n 2p)
if [ -z "$run_cmd" ] || [ -z "$test_cmd" ]; then
  echo "readme-check: the README's \"Two commands\" block must hold a run and a test command" >&2
  exit 1
fi
if ! grep -qF -- "$test_cmd" "$root/.ci/run"; then
  echo "readme-check: .ci/run does not run the README's test command ($test_cmd)" >&2
  exit 1
fi

clone=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$clone"
}
trap cleanup EXIT
git clone --quiet "$root" "$clone/users-service"
cd "$clone/users-service"
# Share the build cache so a CI run compiles the release binary once.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
echo "readme-check: running \`$run_cmd\` in a fresh clone"
set -m
bash -c "$run_cmd" > "$clone/run.log" 2>&1 &
pid=$!
set +m
deadline=$((SECONDS + ${README_CHECK_TIMEOUT_SECS:-1800}))
until curl -fsS http://127.0.0.1:3003/health >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "readme-check: \`$run_cmd\` exited before /health answered:" >&2
    tail -n 30 "$clone/run.log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "readme-check: /health did not answer in time" >&2
    tail -n 30 "$clone/run.log" >&2
    exit 1
  fi
  sleep 1
done
if [ ! -f data/users.redb ]; then
  echo "readme-check: the default embedded store ./data/users.redb was not created" >&2
  exit 1
fi
echo "readme-check: 1 passed, 0 failed (fresh clone serves /health on port 3003 with the embedded store)"
