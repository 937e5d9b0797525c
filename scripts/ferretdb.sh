#!/usr/bin/env bash
# Run a local FerretDB 1.24 (MongoDB wire protocol, embedded SQLite backend)
# for tests. See tools/ferretdb/main.go.
#
#   scripts/ferretdb.sh build            build target/tools/ferretdb (cached); prints its path
#   scripts/ferretdb.sh start DATA_DIR   start in background; prints PID=... and URI=...
#   scripts/ferretdb.sh stop PID         SIGTERM, wait up to 10 s, then SIGKILL
#
# Example:
#   eval "$(scripts/ferretdb.sh start /tmp/fdb)"   # sets PID and URI
#   MONGODB_URI="$URI" cargo test
#   scripts/ferretdb.sh stop "$PID"
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC_DIR="$ROOT/tools/ferretdb"
BIN="$ROOT/target/tools/ferretdb"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-60}" # seconds, bounded to 60
STOP_TIMEOUT=10                               # seconds

die() {
	echo "ferretdb.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# build: builds the binary unless it is newer than all of its sources.
# Progress goes to stderr so that `start` keeps stdout for PID=/URI= only.
cmd_build() {
	command -v go >/dev/null 2>&1 || die "go not found in PATH"

	local stale=0 f
	if [[ ! -x "$BIN" ]]; then
		stale=1
	else
		for f in "$SRC_DIR/main.go" "$SRC_DIR/go.mod" "$SRC_DIR/go.sum"; do
			if [[ "$f" -nt "$BIN" ]]; then
				stale=1
				break
			fi
		done
	fi

	if ((stale)); then
		echo "ferretdb.sh: building $BIN (the first build compiles many modules and can take several minutes)..." >&2
		mkdir -p "$(dirname "$BIN")"
		(cd "$SRC_DIR" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -buildvcs=false -o "$BIN" .) >&2
	else
		echo "ferretdb.sh: $BIN is up to date" >&2
	fi
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

port_open() {
	python3 -c 'import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)' "$1"
}

cmd_start() {
	[[ $# -eq 1 ]] || usage
	local data_dir="$1"

	cmd_build

	mkdir -p "$data_dir"
	data_dir="$(cd "$data_dir" && pwd)"
	local log="$data_dir/ferretdb.log"

	local port
	port="$(free_port)"

	# setsid: own session/process group, so Ctrl-C in the caller's terminal
	# or the caller exiting does not take it down; stop it with `stop PID`.
	setsid "$BIN" -listen-addr "127.0.0.1:$port" -data-dir "$data_dir" \
		</dev/null >>"$log" 2>&1 &
	local pid=$!

	local timeout=$START_TIMEOUT
	((timeout > 0 && timeout <= 60)) || timeout=60
	local deadline=$((SECONDS + timeout))

	until port_open "$port"; do
		if ! alive "$pid"; then
			echo "ferretdb.sh: FerretDB (pid $pid) exited during start-up; last lines of $log:" >&2
			tail -n 40 "$log" >&2 || true
			exit 1
		fi
		if ((SECONDS >= deadline)); then
			echo "ferretdb.sh: FerretDB (pid $pid) did not accept connections on 127.0.0.1:$port within ${timeout}s; last lines of $log:" >&2
			tail -n 40 "$log" >&2 || true
			kill -KILL "$pid" 2>/dev/null || true
			exit 1
		fi
		sleep 0.2
	done

	echo "PID=$pid"
	echo "URI=mongodb://127.0.0.1:$port/"
}

# alive PID: true if the process exists and is not a zombie. After `start`
# exits, FerretDB is re-parented to PID 1, which may reap it only later.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
	[[ -n "$state" && "$state" != Z* ]]
}

cmd_stop() {
	[[ $# -eq 1 ]] || usage
	local pid="$1"
	[[ "$pid" =~ ^[0-9]+$ ]] || die "invalid PID: $pid"

	if ! alive "$pid"; then
		echo "ferretdb.sh: process $pid is not running" >&2
		return 0
	fi

	kill -TERM "$pid" 2>/dev/null || true

	local i
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done

	echo "ferretdb.sh: process $pid did not exit within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 20; i++)); do
		alive "$pid" || return 0
		sleep 0.1
	done
	die "process $pid is still running after SIGKILL"
}

main() {
	[[ $# -ge 1 ]] || usage
	local cmd="$1"
	shift
	case "$cmd" in
	build)
		[[ $# -eq 0 ]] || usage
		cmd_build
		echo "$BIN"
		;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
