#!/usr/bin/env python3
"""Timing report of user enumeration (rule 10): does a login with an unknown identifier
answer like a login with a known identifier and a wrong password, in status, body and
time?

Starts the service (memory store, the real argon2id parameters, rate limiting off, the
lockout threshold out of reach), registers one account, then interleaves, in random
order, `--samples` logins of each kind on both dialects, timed by the client. Prints the
medians, the 90th percentiles and the ratio unknown / wrong password; a ratio near 1.00
means the time does not tell the two apart. Also checks that status and body are the same.

No target and no exit status on the ratio (timing on a shared machine is noisy); the exit
status is non-zero only when the report cannot be made or the answers differ.

    python3 bench/enumeration.py --bin target/release/users-service [--samples 200]
"""

import argparse
import http.client
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time

PASSWORD = "Enum-Bench-2024!x"
WRONG = "Wrong-Guess-2024!y"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(conn, method, path, body):
    payload = json.dumps(body)
    t0 = time.perf_counter()
    conn.request(method, path, payload, {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    return time.perf_counter() - t0, response.status, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="target/release/users-service")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    if not os.access(args.bin, os.X_OK):
        print(f"enumeration: {args.bin} is not an executable (cargo build --release -p app)",
              file=sys.stderr)
        return 2

    port = free_port()
    env = dict(os.environ,
               USERS__SERVER__HOST="127.0.0.1", USERS__SERVER__PORT=str(port),
               USERS__DATABASE__KIND="memory", USERS__AUTH__JWT_SECRET=secrets.token_hex(32),
               USERS__RATE_LIMIT__ENABLED="false",
               USERS__LOCKOUT__MAX_FAILURES=str(2**31), USERS__LOG__LEVEL="warn")
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print("enumeration: the service did not start", file=sys.stderr)
                return 2
            time.sleep(0.05)

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        _, status, body = request(conn, "POST", "/api/v1/auth/register",
                                  {"email": "known@enum.test", "username": "Known User",
                                   "password": PASSWORD})
        if status != 201:
            print(f"enumeration: register answered {status}: {body!r}", file=sys.stderr)
            return 2

        kinds = {
            ("v1", "unknown"): ("/api/v1/auth/login",
                                {"email": "nobody@enum.test", "password": WRONG}),
            ("v1", "wrong password"): ("/api/v1/auth/login",
                                       {"email": "known@enum.test", "password": WRONG}),
            ("fr", "unknown"): ("/api/auth/login", {"login": "nobody@enum.test",
                                                    "motDePasse": WRONG}),
            ("fr", "wrong password"): ("/api/auth/login", {"login": "known@enum.test",
                                                           "motDePasse": WRONG}),
        }
        plan = [k for k in kinds for _ in range(args.samples)]
        random.shuffle(plan)
        times = {k: [] for k in kinds}
        answers = {k: set() for k in kinds}
        for kind in plan:
            path, body = kinds[kind]
            elapsed, status, data = request(conn, "POST", path, body)
            times[kind].append(elapsed * 1000)
            # The request id differs per answer by design; everything else must not.
            answers[kind].add((status, data))

        print(f"users-service enumeration timing, {args.samples} samples per kind, "
              f"argon2id defaults, memory store, client wall time")
        print(f"{'dialect':8} {'kind':16} {'median ms':>10} {'p90 ms':>8}")
        same = True
        for dialect in ("v1", "fr"):
            for what in ("unknown", "wrong password"):
                t = sorted(times[(dialect, what)])
                print(f"{dialect:8} {what:16} {statistics.median(t):10.2f} "
                      f"{t[int(0.9 * (len(t) - 1))]:8.2f}")
            unknown = statistics.median(times[(dialect, "unknown")])
            wrong = statistics.median(times[(dialect, "wrong password")])
            identical = answers[(dialect, "unknown")] == answers[(dialect, "wrong password")]
            same &= identical and len(answers[(dialect, "unknown")]) == 1
            print(f"{dialect:8} ratio unknown / wrong password: {unknown / wrong:.3f}; "
                  f"status and body identical: {'yes' if identical else 'NO'}")
        return 0 if same else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
