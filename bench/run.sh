#!/usr/bin/env bash
# Benchmark harness of users-service (see bench/README.md).
#
#   bench/run.sh [--store memory|embedded|mongo] [--duration 15] [--connections 64]
#                [--users 10000] [--smoke] [--bin PATH] [more: bench/run.sh --help]
#
# 1. builds the release binary (cargo build --release -p app), unless --bin PATH is given;
# 2. makes sure wrk is installed (apt-get install -y wrk when it is missing and we are root);
# 3. runs bench/harness.py: starts the service on 127.0.0.1, seeds it, runs every
#    scenario, prints one table and writes bench/results/<UTC>-<store>.json.
#
# --smoke: a few seconds, tiny user counts, no targets; exits non-zero when the harness
# itself is broken (tool missing, server not starting, a scenario without numbers).
# A missed performance target never fails the script.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

BUILD_TIMEOUT="${USERS_BENCH_BUILD_TIMEOUT:-3600}" # seconds
bin="${USERS_BENCH_BIN:-}"
profile=release
smoke=0
args=()
while [[ $# -gt 0 ]]; do
	case "$1" in
	--bin)
		[[ $# -ge 2 ]] || { echo "bench/run.sh: --bin needs a path" >&2; exit 2; }
		bin="$2"
		shift 2
		;;
	--profile)
		# dev reuses the debug build of the test suite (dependencies are optimised in dev,
		# so argon2 costs about the same); for CI smoke runs only, never for numbers.
		[[ $# -ge 2 ]] || { echo "bench/run.sh: --profile needs release or dev" >&2; exit 2; }
		profile="$2"
		shift 2
		;;
	--smoke)
		smoke=1
		args+=("$1")
		shift
		;;
	-h | --help)
		sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
		echo
		exec python3 bench/harness.py --bin /bin/true --help
		;;
	*)
		args+=("$1")
		shift
		;;
	esac
done

command -v python3 >/dev/null 2>&1 || { echo "bench/run.sh: python3 is required" >&2; exit 1; }

# 1. The binary.
if [[ -z "$bin" ]]; then
	target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
	case "$profile" in
	release)
		echo "bench/run.sh: cargo build --release -p app (bounded to ${BUILD_TIMEOUT}s)" >&2
		timeout "$BUILD_TIMEOUT" cargo build --release -p app >&2
		bin="$target_dir/release/users-service"
		;;
	dev)
		echo "bench/run.sh: cargo build -p app (bounded to ${BUILD_TIMEOUT}s)" >&2
		timeout "$BUILD_TIMEOUT" cargo build -p app >&2
		bin="$target_dir/debug/users-service"
		;;
	*)
		echo "bench/run.sh: --profile must be release or dev, got $profile" >&2
		exit 2
		;;
	esac
fi
[[ -x "$bin" ]] || { echo "bench/run.sh: no executable at $bin" >&2; exit 1; }

# 2. The load generator: wrk (Debian package; Lua scripting for per-request bodies).
if ! command -v wrk >/dev/null 2>&1; then
	if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		echo "bench/run.sh: installing wrk (apt-get install -y wrk)" >&2
		timeout 300 apt-get install -y wrk >&2 ||
			{ timeout 300 apt-get update >&2 && timeout 300 apt-get install -y wrk >&2; }
	fi
	command -v wrk >/dev/null 2>&1 || {
		echo "bench/run.sh: wrk is required: apt-get install -y wrk (Debian/Ubuntu)" >&2
		exit 1
	}
fi

# 3. The run, bounded as a whole as well (the harness bounds each wait itself).
if ((smoke)); then wall=600; else wall=14400; fi
exec timeout --signal=TERM --kill-after=30 "$wall" python3 bench/harness.py --bin "$bin" "${args[@]}"
