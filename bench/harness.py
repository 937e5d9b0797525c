#!/usr/bin/env python3
"""users-service benchmark harness. Started by bench/run.sh; see bench/README.md.

Standard library only. Every wait is bounded; every process it starts (servers, wrk,
FerretDB) is stopped by PID on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "scenario.lua"

ADMIN_LOGIN = "benchadmin"
ADMIN_FIRST_PASSWORD = "Bench-First-2024!"
ADMIN_PASSWORD = "Bench-Admin-Kept-2024!"
USER_PASSWORD = "Bench-Pass-2024!x"
FIRST_NAMES = ["Joseph", "Marie", "Amani", "Grace", "Patrick", "Esther", "Didier", "Ruth",
               "Olivier", "Sarah", "Jean", "Nadine", "Pierre", "Chantal", "Eric", "Aline"]
LAST_NAMES = ["Kabila", "Mwamba", "Ilunga", "Kasongo", "Mutombo", "Tshibanda", "Ngoy",
              "Kalenga", "Banza", "Mukendi", "Lukusa", "Kazadi", "Mbuyi", "Numbi",
              "Kapend", "Mulumba", "Kyungu", "Nday", "Sefu", "Kitenge"]
SEARCH_Q = "kab"  # a prefix of "Kabila": 1 user in 20 (plus the e-mails never match)
MiB = 1024 * 1024


class HarnessError(Exception):
    """The harness itself failed (not a missed target)."""


# ---------------------------------------------------------------------------------------
# Small utilities


class Deadline:
    """The whole run's time budget; every wait takes the smaller of its own bound and this."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise HarnessError("the run exceeded its time budget (--max-wall)")
        return min(cap, left)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_s() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy (all cores; idle, iowait and steal
    excluded), and seconds stolen by the hypervisor."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:7]) - v[3] - v[4]) / CLK_TCK, v[7] / CLK_TCK


class CpuWindow:
    """Cores used by the server, and by the whole machine, between start and `stop()`."""

    def __init__(self, pid: int):
        self.pid = pid
        self.t0 = time.monotonic()
        self.p0 = proc_cpu_s(pid)
        self.m0 = machine_busy_s()

    def stop(self) -> dict:
        wall = time.monotonic() - self.t0
        p1 = proc_cpu_s(self.pid)
        m1 = machine_busy_s()
        out = {"server_cpu_s": None, "server_cores": None,
               "machine_busy_cores": round((m1[0] - self.m0[0]) / wall, 2) if wall > 0 else None,
               "machine_steal_cores": round((m1[1] - self.m0[1]) / wall, 2) if wall > 0 else None}
        if self.p0 is not None and p1 is not None and wall > 0:
            out["server_cpu_s"] = round(p1 - self.p0, 2)
            out["server_cores"] = round((p1 - self.p0) / wall, 2)
        return out


def stop_pid(proc: subprocess.Popen, name: str, grace: float = 10.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL: by PID, never by name."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) ignored SIGTERM for {grace:.0f}s; SIGKILL")
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


class Http:
    """One keep-alive connection to 127.0.0.1:port (re-opened after an error)."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body=None, token: str | None = None,
                headers: dict | None = None):
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                resp = self.conn.getresponse()
                raw = resp.read()
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = raw.decode(errors="replace")
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
        except ValueError:
            continue
    return out


# ---------------------------------------------------------------------------------------
# The service under test


class Server:
    """One users-service process on 127.0.0.1 (port 0: the system picks a free one, and the
    harness reads the real address from the "listening on" line)."""

    def __init__(self, binary: Path, env: dict, workdir: Path, name: str, deadline: Deadline,
                 port: int = 0, start_timeout: float = 120.0):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("USERS__")}
        full_env.update(env)
        full_env["USERS__SERVER__HOST"] = "127.0.0.1"
        full_env["USERS__SERVER__PORT"] = str(port)
        self._log = open(self.log_path, "ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen([str(binary), "serve"], env=full_env, cwd=workdir,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log, start_new_session=True)
        self.pid = self.proc.pid
        self.port: int | None = None
        ready = threading.Event()

        def read_stdout():
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").strip()
                m = re.search(r"listening on http://[^\s:]+:(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        limit = deadline.left(start_timeout)
        t_end = time.monotonic() + limit
        while not ready.wait(0.05):
            if self.proc.poll() is not None:
                raise HarnessError(f"{name}: users-service exited with {self.proc.returncode} "
                                   f"during start-up; last lines of {self.log_path}:\n{self.tail()}")
            if time.monotonic() > t_end:
                self.stop()
                raise HarnessError(f"{name}: no 'listening on' line within {limit:.0f}s; "
                                   f"see {self.log_path}:\n{self.tail()}")
        self.http = Http(self.port)

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self) -> dict[str, float]:
        status, _, body = self.http.request("GET", "/metrics")
        if status != 200 or not isinstance(body, str):
            return {}
        return parse_metrics(body)

    def settle(self, deadline: Deadline, limit: float = 30.0) -> None:
        """Waits (bounded) until /ready answers 200, so that a store still digesting the
        previous scenario's backlog (a 503 from a slow MongoDB) does not leak into the
        next one."""
        t_end = time.monotonic() + deadline.left(limit)
        while True:
            try:
                status, _, _ = self.http.request("GET", "/ready")
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > t_end:
                log(f"{self.name}: /ready not 200 after {limit:.0f}s; going on")
                return
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
        stop_pid(self.proc, f"{self.name} users-service")
        self._log.close()


# ---------------------------------------------------------------------------------------
# Load generation (wrk) and seeding (parallel, bounded, through the API)


class Wrk:
    def __init__(self, workdir: Path, deadline: Deadline):
        self.workdir = workdir
        self.deadline = deadline
        self.binary = shutil.which("wrk")
        if not self.binary:
            raise HarnessError("wrk not found in PATH (bench/run.sh installs it with apt-get)")
        self.seq = 0
        self.running: list[subprocess.Popen] = []

    def stop_all(self) -> None:
        for proc in self.running:
            stop_pid(proc, "wrk", grace=5)
        self.running.clear()

    def start(self, name: str, server: Server, path: str, connections: int, duration: float,
              mode: str = "get", token: str | None = None, delay_ms: int = 0,
              extra_env: dict | None = None):
        """Starts wrk in the background; returns a handle for `wait`."""
        server.settle(self.deadline)
        self.seq += 1
        out = self.workdir / f"wrk-{self.seq:02d}-{name}.json"
        threads = max(1, min(connections, cores()))
        env = dict(os.environ)
        env.update({
            "BENCH_MODE": mode, "BENCH_PATH": path, "BENCH_TOKEN": token or "",
            "BENCH_DELAY_MS": str(delay_ms), "BENCH_THREADS": str(threads),
            "BENCH_OUT": str(out), "BENCH_PASSWORD": USER_PASSWORD,
        })
        env.update(extra_env or {})
        secs = max(1, round(duration))
        cmd = [self.binary, f"-t{threads}", f"-c{connections}", f"-d{secs}s", "--timeout", "30s",
               "-s", str(LUA), server.url("/")]
        stdout = open(self.workdir / f"wrk-{self.seq:02d}-{name}.out", "wb")
        cpu = CpuWindow(server.pid)
        proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.running.append(proc)
        return {"name": name, "proc": proc, "out": out, "secs": secs, "stdout": stdout,
                "connections": connections, "threads": threads, "path": path, "cpu": cpu}

    def wait(self, h) -> dict:
        try:
            h["proc"].wait(timeout=self.deadline.left(h["secs"] + 60))
        except subprocess.TimeoutExpired:
            stop_pid(h["proc"], f"wrk {h['name']}", grace=5)
            raise HarnessError(f"wrk {h['name']} did not finish in time")
        finally:
            h["stdout"].close()
            if h["proc"] in self.running:
                self.running.remove(h["proc"])
        cpu = h["cpu"].stop()
        if h["proc"].returncode != 0 or not h["out"].exists():
            text = Path(h["stdout"].name).read_text(errors="replace")
            raise HarnessError(f"wrk {h['name']} failed (exit {h['proc'].returncode}): {text[-2000:]}")
        r = json.loads(h["out"].read_text())
        dur = r["duration_us"] / 1e6
        errs = r["errors"]
        lat = r["latency_us"]
        return {
            "path": h["path"], "connections": h["connections"], "threads": h["threads"],
            "duration_s": round(dur, 3), "requests": r["requests"],
            "rps": round(r["requests"] / dur, 1) if dur > 0 else 0.0,
            "errors": {k: errs[k] for k in ("connect", "read", "write", "status", "timeout")},
            "errors_total": sum(errs.values()),
            "latency_ms": {k: round(lat[k] / 1000, 3) for k in
                           ("mean", "p50", "p90", "p99", "p999", "max")},
            "cpu": cpu,
            "cpu_ms_per_request": (round(cpu["server_cpu_s"] * 1000 / r["requests"], 3)
                                   if cpu["server_cpu_s"] is not None and r["requests"] else None),
        }

    def run(self, *args, **kwargs) -> dict:
        return self.wait(self.start(*args, **kwargs))


def full_name(i: int) -> str:
    return f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // 7) % len(LAST_NAMES)]}"


def seed_users(server: Server, start: int, count: int, parallel: int, email_fmt: str,
               deadline: Deadline, budget: float) -> dict:
    """Registers users start..start+count through POST /api/v1/auth/register with at most
    `parallel` requests in flight (each on its own keep-alive connection)."""
    t0 = time.monotonic()
    cpu = CpuWindow(server.pid)
    t_end = t0 + deadline.left(budget)
    counter = iter(range(start, start + count))
    lock = threading.Lock()
    failures: list[str] = []
    created = [0]

    def worker():
        client = Http(server.port)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None or failures or time.monotonic() > t_end:
                    return
                body = {"email": email_fmt % i, "username": full_name(i), "password": USER_PASSWORD}
                try:
                    status, _, resp = client.request("POST", "/api/v1/auth/register", body)
                except OSError as e:
                    with lock:
                        failures.append(f"user {i}: {e}")
                    return
                with lock:
                    if status == 201:
                        created[0] += 1
                    else:
                        failures.append(f"user {i}: {status} {str(resp)[:200]}")
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, t_end - time.monotonic()) + 35)
    elapsed = time.monotonic() - t0
    if failures:
        raise HarnessError(f"seeding failed: {failures[0]}")
    if created[0] != count:
        raise HarnessError(f"seeding created {created[0]} of {count} users within {budget:.0f}s")
    return {"users": count, "parallel": parallel, "seconds": round(elapsed, 2),
            "per_second": round(count / elapsed, 1) if elapsed > 0 else None, "cpu": cpu.stop()}


def admin_token(server: Server) -> str:
    """Logs the bootstrap admin in, changes its first password, returns the fresh token."""
    c = server.http
    st, _, body = c.request("POST", "/api/auth/login",
                            {"login": ADMIN_LOGIN, "motDePasse": ADMIN_FIRST_PASSWORD})
    if st == 200:
        tok = body["data"]["token"]
        if body["data"].get("premierConnexion"):
            st, _, body = c.request("POST", "/api/utilisateurs/change-password",
                                    {"ancienMotDePasse": ADMIN_FIRST_PASSWORD,
                                     "nouveauMotDePasse": ADMIN_PASSWORD}, token=tok)
            if st != 200:
                raise HarnessError(f"admin password change failed: {st} {body}")
            tok = body["data"]["token"]
        return tok
    # A store reused from an earlier start: the password was already changed.
    st, _, body = c.request("POST", "/api/auth/login",
                            {"login": ADMIN_LOGIN, "motDePasse": ADMIN_PASSWORD})
    if st != 200:
        raise HarnessError(f"admin login failed: {st} {body}")
    return body["data"]["token"]


def user_token(server: Server, email: str) -> str:
    st, _, body = server.http.request("POST", "/api/v1/auth/login",
                                      {"email": email, "password": USER_PASSWORD})
    if st != 200:
        raise HarnessError(f"login of {email} failed: {st} {body}")
    return body["access_token"]


def total_users(server: Server, token: str) -> int:
    st, headers, body = server.http.request("GET", "/api/v1/admin/users?limit=1", token=token)
    if st != 200:
        raise HarnessError(f"GET /api/v1/admin/users failed: {st} {body}")
    return int(headers.get("x-total-count", "-1"))


class RssSampler:
    def __init__(self, pid: int, every: float = 0.05):
        self.pid, self.every = pid, every
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = rss_kib(self.pid)
            if v is not None:
                self.peak = max(self.peak, v)
                self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


# ---------------------------------------------------------------------------------------
# The run


class Run:
    def __init__(self, args):
        self.a = args
        self.deadline = Deadline(args.max_wall)
        self.workdir = Path(tempfile.mkdtemp(prefix="users-bench-"))
        self.wrk = Wrk(self.workdir, self.deadline)
        self.servers: list[Server] = []
        self.ferret_pid: str | None = None
        self.run_tag = secrets.token_hex(4)
        self.cores = cores()
        self.res: dict = {
            "meta": {
                "started_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "store": args.store, "smoke": args.smoke, "duration_s": args.duration,
                "connections": args.connections, "users": args.users,
                "users_large": args.users * args.list_factor, "cores": self.cores,
                "binary": str(args.bin), "binary_sha256": sha256_prefix(args.bin),
                "git": git_describe(),
                "env": {k: v for k, v in os.environ.items()
                        if k.startswith(("MALLOC_", "GLIBC_TUNABLES", "RUST_LOG"))},
                "wrk": wrk_version(), "host": socket.gethostname(),
                "loadavg_start": os.getloadavg(),
                "argon2": "m=19456 KiB, t=2, p=1 (service defaults, OWASP)",
                "log_level": args.log_level or "service default (info)",
                "tag": args.tag,
            },
            "scenarios": {},
        }
        self.mongo_uri: str | None = None

    # --- stores -------------------------------------------------------------------------

    def store_env(self, instance: str) -> dict:
        store = self.a.store
        env = {"USERS__DATABASE__KIND": store}
        if store == "embedded":
            env["USERS__DATABASE__PATH"] = str(self.workdir / f"{instance}.redb")
        elif store == "mongo":
            env["USERS__DATABASE__URL"] = self.mongo_uri
            env["USERS__DATABASE__NAME"] = f"bench_{instance}_{self.run_tag}"
        return env

    def base_env(self, instance: str, cheap_hash: bool = False) -> dict:
        env = self.store_env(instance)
        env.update({
            "USERS__AUTH__JWT_SECRET": secrets.token_hex(32),
            "USERS__BOOTSTRAP__ADMIN_LOGIN": ADMIN_LOGIN,
            "USERS__BOOTSTRAP__ADMIN_PASSWORD": ADMIN_FIRST_PASSWORD,
            # The whole load comes from one address, which the per-client rate limit of
            # the password routes would rightly throttle: the harness measures the service.
            "USERS__RATE_LIMIT__ENABLED": "false",
        })
        if self.a.workers:
            env["USERS__SERVER__WORKERS"] = str(self.a.workers)
        if self.a.log_level:
            env["USERS__LOG__LEVEL"] = self.a.log_level
        if cheap_hash:
            # Only for the list instance: listing never hashes, so the hashing cost is
            # irrelevant to what it measures, and it makes seeding 10x users fast.
            env.update({"USERS__PASSWORD__ARGON2_MEMORY_KIB": "8",
                        "USERS__PASSWORD__ARGON2_ITERATIONS": "1"})
        return env

    def start_mongo(self) -> None:
        uri = os.environ.get("USERS_BENCH_MONGODB_URI")
        if uri:
            self.mongo_uri = uri
            self.res["meta"]["mongo"] = "USERS_BENCH_MONGODB_URI"
            return
        script = ROOT / "scripts" / "ferretdb.sh"
        log("starting FerretDB (scripts/ferretdb.sh; the first build can take minutes)")
        out = subprocess.run([str(script), "start", str(self.workdir / "ferretdb")],
                             capture_output=True, text=True, timeout=self.deadline.left(900))
        if out.returncode != 0:
            raise HarnessError(f"scripts/ferretdb.sh start failed: {out.stderr[-2000:]}")
        vals = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        self.ferret_pid, self.mongo_uri = vals["PID"], vals["URI"]
        self.res["meta"]["mongo"] = "FerretDB (scripts/ferretdb.sh)"

    def start_server(self, instance: str, cheap_hash: bool = False) -> Server:
        s = Server(self.a.bin, self.base_env(instance, cheap_hash), self.workdir, instance,
                   self.deadline)
        self.servers.append(s)
        return s

    def stop_server(self, s: Server) -> None:
        s.stop()
        if s in self.servers:
            self.servers.remove(s)

    def cleanup(self) -> None:
        self.wrk.stop_all()
        for s in list(self.servers):
            try:
                s.stop()
            except Exception as e:  # noqa: BLE001 - best effort on the way out
                log(f"stopping {s.name}: {e}")
        if self.ferret_pid:
            subprocess.run([str(ROOT / "scripts" / "ferretdb.sh"), "stop", self.ferret_pid],
                           timeout=30, capture_output=True)
        if self.a.keep:
            log(f"kept the work directory {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- scenarios ----------------------------------------------------------------------

    def scenario(self, key: str, value: dict) -> dict:
        self.res["scenarios"][key] = value
        brief = {k: value[k] for k in ("rps", "errors_total") if k in value}
        if "latency_ms" in value:
            brief["p99_ms"] = value["latency_ms"]["p99"]
        log(f"{key}: {brief}")
        return value

    def main_instance(self) -> None:
        a, D, C = self.a, self.a.duration, self.a.connections
        sc = self.res["scenarios"]
        log(f"main instance: {a.store} store, real argon2id (OWASP); seeding {a.users} users")
        srv = self.start_server("main")
        time.sleep(0.5)
        rss_start = rss_kib(srv.pid)
        admin = admin_token(srv)
        email_fmt = "u%d@main.bench.test"
        seeding = seed_users(srv, 0, a.users, a.seed_parallel, email_fmt, self.deadline,
                             a.seed_timeout)
        n = total_users(srv, admin)
        if n != a.users + 1:
            raise HarnessError(f"after seeding, X-Total-Count is {n}, expected {a.users + 1}")
        self.scenario("seed_real_hash", seeding)
        token = user_token(srv, email_fmt % 0)

        time.sleep(1.0)
        sc["rss"] = {"start_kib": rss_start, "idle_kib": rss_kib(srv.pid),
                     "users_in_store": a.users + 1}

        health = self.scenario("health", self.wrk.run("health", srv, "/health", C, D))
        me = self.scenario("users_me", self.wrk.run("users_me", srv, "/api/v1/users/me", C, D,
                                                    token=token))
        me["ratio_to_health"] = round(me["rps"] / health["rps"], 3) if health["rps"] else None

        # One verify's service time: sequential logins on one connection, timed by the
        # service itself (/metrics) and by the client.
        login_env = {"BENCH_ACCOUNTS": str(a.users), "BENCH_EMAIL_FMT": email_fmt}
        m0 = srv.metrics()
        seq = self.wrk.run("login_1conn", srv, "/api/v1/auth/login", 1, a.verify_duration,
                           mode="login", extra_env=login_env)
        m1 = srv.metrics()
        sc["verify"] = verify_time(seq, m0, m1, self.cores)
        ceiling = sc["verify"]["hash_ceiling_rps"]
        if ceiling:
            seeding["ratio_to_ceiling"] = round(seeding["per_second"] / ceiling, 3)
        log(f"verify: {sc['verify']}")

        login = self.scenario("login", self.wrk.run("login", srv, "/api/v1/auth/login", C, D,
                                                    mode="login", extra_env=login_env))
        login["ratio_to_ceiling"] = round(login["rps"] / ceiling, 3) if ceiling else None

        # Login storm with two paced probes alongside.
        storm_secs = max(3, D)
        probe_secs = storm_secs - 2  # the probes start 1 s in and end 1 s before the storm
        with RssSampler(srv.pid) as rss:
            storm = self.wrk.start("storm_login", srv, "/api/v1/auth/login", C, storm_secs,
                                   mode="login", extra_env=login_env)
            time.sleep(1.0)
            ph = self.wrk.start("storm_health", srv, "/health", 2, probe_secs,
                                delay_ms=a.probe_delay_ms)
            pm = self.wrk.start("storm_users_me", srv, "/api/v1/users/me", 2, probe_secs,
                                token=token, delay_ms=a.probe_delay_ms)
            r_ph, r_pm = self.wrk.wait(ph), self.wrk.wait(pm)
            r_storm = self.wrk.wait(storm)
        sc["storm"] = {"login": r_storm, "health_probe": r_ph, "users_me_probe": r_pm,
                       "probe_delay_ms": a.probe_delay_ms}
        log(f"storm: login {r_storm['rps']} rps; /health p99 {r_ph['latency_ms']['p99']} ms; "
            f"/users/me p99 {r_pm['latency_ms']['p99']} ms")
        sc["rss"].update({"peak_storm_kib": rss.peak, "samples": rss.samples,
                          "hwm_kib": rss_kib(srv.pid, "VmHWM")})

        reg = self.scenario("register", self.wrk.run(
            "register", srv, "/api/v1/auth/register", C, D, mode="register",
            extra_env={"BENCH_RUN": self.run_tag}))
        reg["ratio_to_ceiling"] = round(reg["rps"] / ceiling, 3) if ceiling else None
        if not srv.alive():
            raise HarnessError("the main instance died during the run")
        self.stop_server(srv)

        # Start-up time: process start -> first /health 200, on the seeded main store.
        self.startup("startup", "main", a.startups)

    def list_instance(self) -> None:
        a, D, C = self.a, self.a.duration, self.a.connections
        sc = self.res["scenarios"]
        small, large = a.users, a.users * a.list_factor
        log(f"list instance: {a.store} store, cheap hashing, {small} then {large} users")
        srv = self.start_server("list", cheap_hash=True)
        admin = admin_token(srv)
        fmt = "l%d@list.bench.test"
        seeded = {}
        for size, start in ((small, 0), (large, small)):
            seeded[str(size)] = seed_users(srv, start, size - start, a.seed_parallel_cheap, fmt,
                                           self.deadline, a.seed_timeout)
            n = total_users(srv, admin)
            if n != size + 1:
                raise HarnessError(f"list instance: X-Total-Count {n}, expected {size + 1}")
            for key, path in (("list_v1", "/api/v1/admin/users?limit=50"),
                              ("list_fr_q", f"/api/utilisateurs?size=50&q={SEARCH_Q}")):
                srv.settle(self.deadline)
                st, _, body = srv.http.request("GET", path, token=admin)
                if st == 503:  # a store that cannot keep up is a result, not a harness bug
                    log(f"GET {path}: 503 before the scenario (store unavailable); measuring anyway")
                elif st != 200:
                    raise HarnessError(f"GET {path}: {st} {body}")
                r = self.wrk.run(f"{key}_{size}", srv, path, C, D, token=admin)
                self.scenario(f"{key}_{size}", r)
            sc.setdefault("rss_list_instance_kib", {})[str(size)] = rss_kib(srv.pid)
        sc["seed_cheap_hash"] = seeded
        for key in ("list_v1", "list_fr_q"):
            p_small = sc[f"{key}_{small}"]["latency_ms"]["p99"]
            p_large = sc[f"{key}_{large}"]["latency_ms"]["p99"]
            sc[f"{key}_p99_ratio"] = round(p_large / p_small, 2) if p_small else None
        self.stop_server(srv)
        if a.store == "embedded":
            self.startup("startup_large_store", "list", max(1, a.startups // 2))

    def startup(self, key: str, instance: str, runs: int) -> None:
        """Starts the binary `runs` times on the store of `instance` and times process
        start -> first GET /health answering 200 (polled every 2 ms)."""
        times = []
        for _ in range(runs):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("USERS__")}
            # Always the real hashing parameters: start-up computes one dummy hash with them.
            env.update(self.base_env(instance))
            env.update({"USERS__SERVER__HOST": "127.0.0.1", "USERS__SERVER__PORT": str(port)})
            logf = open(self.workdir / f"startup-{instance}.log", "ab")
            t0 = time.monotonic()
            proc = subprocess.Popen([str(self.a.bin), "serve"], env=env, cwd=self.workdir,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=logf, start_new_session=True)
            try:
                t_end = t0 + self.deadline.left(60)
                took = None
                while time.monotonic() < t_end and proc.poll() is None:
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                        c.request("GET", "/health")
                        if c.getresponse().status == 200:
                            took = time.monotonic() - t0
                            c.close()
                            break
                        c.close()
                    except OSError:
                        pass
                    time.sleep(0.002)
                if took is None:
                    raise HarnessError(f"start-up ({instance}): no /health 200 within 60s "
                                       f"(exit {proc.poll()})")
                times.append(took * 1000)
            finally:
                stop_pid(proc, "start-up probe")
                logf.close()
        self.res["scenarios"][key] = {
            "runs": runs, "median_ms": round(statistics.median(times), 1),
            "min_ms": round(min(times), 1), "max_ms": round(max(times), 1),
            "all_ms": [round(t, 1) for t in times], "store": self.a.store,
        }
        log(f"{key}: median {self.res['scenarios'][key]['median_ms']} ms over {runs} starts")

    def execute(self) -> dict:
        t0 = time.monotonic()
        try:
            if self.a.store == "mongo":
                self.start_mongo()
            self.main_instance()
            self.list_instance()
        finally:
            self.cleanup()
        self.res["meta"]["wall_s"] = round(time.monotonic() - t0, 1)
        self.res["meta"]["loadavg_end"] = os.getloadavg()
        return self.res


def verify_time(seq: dict, m0: dict, m1: dict, ncores: int) -> dict:
    """One verify's service time, from sequential logins on one connection.

    Primary: the server's CPU seconds per login (/proc/PID/stat), which waiting for a
    core on a shared machine does not inflate; hashing is nearly all of it (parsing,
    the store and the JWT take microseconds). Also reported, as wall times: the
    service's hash histogram (when it has one), its login handler histogram, and the
    client's mean latency."""
    def delta(name: str, labels: str):
        s = m1.get(f"{name}_sum{labels}", 0) - m0.get(f"{name}_sum{labels}", 0)
        n = m1.get(f"{name}_count{labels}", 0) - m0.get(f"{name}_count{labels}", 0)
        return (s / n, int(n)) if n > 0 else (None, 0)

    hash_s, _ = delta("users_password_hash_duration_seconds", '{operation="verify"}')
    handler_s, _ = delta("http_request_duration_seconds",
                         '{method="POST",route="/api/v1/auth/login"}')
    client_s = seq["latency_ms"]["mean"] / 1000 if seq["requests"] else None
    cpu_s = seq["cpu"]["server_cpu_s"]
    cpu_per = cpu_s / seq["requests"] if cpu_s and seq["requests"] else None
    wall = hash_s or handler_s or client_s
    if cpu_per:
        t, source = cpu_per, "server CPU time per login (1 connection)"
    elif wall:
        t, source = wall, "wall time per login (1 connection)"
    else:
        t, source = None, "none"
    ms = (lambda x: round(x * 1000, 2) if x else None)
    return {
        "logins": seq["requests"], "errors_total": seq["errors_total"],
        "verify_ms": ms(t), "source": source,
        "cpu_per_login_ms": ms(cpu_per),
        "hash_metric_wall_ms": ms(hash_s), "login_handler_wall_ms": ms(handler_s),
        "client_mean_wall_ms": ms(client_s), "cpu": seq["cpu"],
        "cores": ncores,
        "hash_ceiling_rps": round(ncores / t, 1) if t else None,
        "wall_ceiling_rps": round(ncores / wall, 1) if wall else None,
    }


# ---------------------------------------------------------------------------------------
# Report


def git_describe() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "crates",
                                "Cargo.toml", "Cargo.lock"], capture_output=True, text=True,
                               timeout=10)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def sha256_prefix(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return None


def rows_and_targets(res: dict) -> list[tuple[str, ...]]:
    """(scenario, measured, cpu, target, verdict) rows; verdict PASS / FAIL / '-' (no
    target, smoke run, or a MongoDB run)."""
    sc, meta = res["scenarios"], res["meta"]
    store = meta["store"]
    targets_on = not meta["smoke"] and store in ("memory", "embedded")
    rows: list[tuple[str, ...]] = []

    def verdict(ok: bool | None) -> str:
        if not targets_on or ok is None:
            return "-"
        return "PASS" if ok else "FAIL"

    def lat(r):
        errors = f", {r['errors_total']} errors" if r.get("errors_total") else ""
        return f"p50 {r['latency_ms']['p50']:.2f} / p99 {r['latency_ms']['p99']:.2f} ms{errors}"

    def cpu(r):
        c = r.get("cpu") or {}
        if c.get("server_cores") is None:
            return ""
        return f"{c['server_cores']:.2f} / {c['machine_busy_cores']:.2f}"

    def ratio(x):
        return "n/a" if x is None else f"{x:.2f}x"

    def hashing(r, ok: bool) -> str:
        """A hashing scenario's verdict, FAIL* when the service could not get the cores
        because other work kept the machine busy (its CPU column shows it)."""
        v = verdict(ok)
        c = r.get("cpu") or {}
        srv, box = c.get("server_cores"), c.get("machine_busy_cores")
        if v == "FAIL" and srv is not None and box is not None:
            if srv < 0.8 * meta["cores"] and box >= 0.95 * meta["cores"]:
                return "FAIL*"
        return v

    ceil = sc.get("verify", {}).get("hash_ceiling_rps")
    s = sc.get("seed_real_hash")
    if s:
        rows.append((f"seed {s['users']} users via the API (real hash, {s['parallel']} in flight)",
                     f"{s['seconds']:.1f} s = {s['per_second']:.1f} users/s "
                     f"({ratio(s.get('ratio_to_ceiling'))} ceiling)", cpu(s), "info", "-"))
    h = sc.get("health")
    if h:
        rows.append(("GET /health", f"{h['rps']:.0f} rps, {lat(h)}", cpu(h), "reference", "-"))
    m = sc.get("users_me")
    if m:
        rows.append(("GET /api/v1/users/me", f"{m['rps']:.0f} rps = {ratio(m['ratio_to_health'])} /health",
                     cpu(m), ">= 0.5x /health", verdict(m["ratio_to_health"] >= 0.5)))
        rows.append(("GET /api/v1/users/me latency", lat(m), "", "p99 <= 10 ms",
                     verdict(m["latency_ms"]["p99"] <= 10 and m["errors_total"] == 0)))
    v = sc.get("verify")
    if v:
        rows.append(("one verify (sequential logins, 1 conn)",
                     f"{v['verify_ms']} ms CPU (wall: hash {v['hash_metric_wall_ms']}, "
                     f"login {v['login_handler_wall_ms'] or v['client_mean_wall_ms']} ms)"
                     f" -> ceiling {v['hash_ceiling_rps']} rps on {v['cores']} cores",
                     cpu(v), "info", "-"))
    lg = sc.get("login")
    if lg:
        rows.append(("POST /api/v1/auth/login", f"{lg['rps']:.1f} rps = {ratio(lg['ratio_to_ceiling'])} ceiling, "
                     f"{lat(lg)}, CPU {lg['cpu_ms_per_request']} ms/login",
                     cpu(lg), ">= 0.85x ceiling",
                     hashing(lg, lg["ratio_to_ceiling"] is not None and lg["ratio_to_ceiling"] >= 0.85
                             and lg["errors_total"] == 0)))
    st = sc.get("storm")
    if st:
        ph, pm = st["health_probe"], st["users_me_probe"]
        rows.append(("  storm: login (with the probes below)", f"{st['login']['rps']:.1f} rps, {lat(st['login'])}",
                     cpu(st["login"]), "info", "-"))
        rows.append(("  storm: GET /health", f"{lat(ph)} ({ph['requests']} probes)",
                     "", "p99 <= 20 ms",
                     verdict(ph["latency_ms"]["p99"] <= 20 and ph["errors_total"] == 0)))
        rows.append(("  storm: GET /api/v1/users/me", f"{lat(pm)} ({pm['requests']} probes)",
                     "", "p99 <= 50 ms",
                     verdict(pm["latency_ms"]["p99"] <= 50 and pm["errors_total"] == 0)))
    r = sc.get("register")
    if r:
        rows.append(("POST /api/v1/auth/register (unique)",
                     f"{r['rps']:.1f} rps = {ratio(r['ratio_to_ceiling'])} ceiling, {lat(r)}"
                     + ("" if r["errors_total"] else ", 0 errors"),
                     cpu(r), "0 errors, >= 0.8x ceiling",
                     hashing(r, r["errors_total"] == 0 and r["ratio_to_ceiling"] is not None
                             and r["ratio_to_ceiling"] >= 0.8)))
    small, large = meta["users"], meta["users_large"]
    for key, label in (("list_v1", "GET /api/v1/admin/users?limit=50"),
                       ("list_fr_q", f"GET /api/utilisateurs?size=50&q={SEARCH_Q}")):
        a, b = sc.get(f"{key}_{small}"), sc.get(f"{key}_{large}")
        if a and b:
            rows.append((f"{label} @{small}", f"{a['rps']:.0f} rps, {lat(a)}", cpu(a), "", ""))
            rt = sc.get(f"{key}_p99_ratio")
            rows.append((f"{label} @{large}", f"{b['rps']:.0f} rps, {lat(b)}; p99 {ratio(rt)}",
                         cpu(b), "p99 <= 2x p99 @small", verdict(rt is not None and rt <= 2)))
    rss = sc.get("rss")
    if rss:
        idle, empty = rss["idle_kib"] / 1024, (rss.get("start_kib") or 0) / 1024
        if store == "memory":
            # The memory store's data is the process's own memory (about 2.5 KiB per user
            # with its indexes): the target applies to the service, measured empty.
            rows.append(("RSS idle (empty store; memory store's data is the process)",
                         f"{empty:.1f} MiB (with {rss['users_in_store']} users: {idle:.1f})", "",
                         "<= 30 MiB", verdict(empty <= 30)))
        else:
            rows.append((f"RSS idle ({rss['users_in_store']} users, after seeding)",
                         f"{idle:.1f} MiB (at start, empty: {empty:.1f})", "",
                         "<= 30 MiB", verdict(idle <= 30)))
        if "peak_storm_kib" in rss:
            peak = rss["peak_storm_kib"] / 1024
            rows.append(("RSS peak (login storm)", f"{peak:.1f} MiB (VmHWM {rss['hwm_kib'] / 1024:.1f})",
                         "", "<= 200 MiB", verdict(peak <= 200)))
    for key, label in (("startup", f"start-up -> /health 200 ({small + 1} users)"),
                       ("startup_large_store", f"start-up -> /health 200 ({large + 1} users)")):
        su = sc.get(key)
        if su:
            on = key == "startup" and store == "embedded"
            rows.append((label, f"median {su['median_ms']:.0f} ms ({su['runs']} starts, "
                         f"{su['min_ms']:.0f}-{su['max_ms']:.0f})", "",
                         "<= 300 ms" if on else "info", verdict(su["median_ms"] <= 300) if on else "-"))
    return rows


def table(res: dict) -> str:
    rows = rows_and_targets(res)
    res["targets"] = [{"scenario": r[0], "measured": r[1], "target": r[3], "verdict": r[4]}
                      for r in rows if r[4] in ("PASS", "FAIL", "FAIL*")]
    head = ("scenario", "measured", "cpu srv/box", "target", "")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    fmt = "  ".join("{:<%d}" % x for x in w)
    meta = res["meta"]
    lines = [f"users-service bench: store={meta['store']} cores={meta['cores']} "
             f"duration={meta['duration_s']}s connections={meta['connections']} "
             f"users={meta['users']}/{meta['users_large']} git={meta['git']} "
             f"load avg {meta['loadavg_start'][0]:.1f} -> {meta['loadavg_end'][0]:.1f}"
             + (" [SMOKE: no targets]" if meta["smoke"] else ""),
             fmt.format(*head), fmt.format(*("-" * x for x in w))]
    lines += [fmt.format(*r) for r in rows]
    lines.append("cpu srv/box: cores used by the service / by the whole machine during the "
                 "scenario (wrk and other jobs share the box)")
    if any(r[4] == "FAIL*" for r in rows):
        lines.append("FAIL*: the machine was busy with other work and the service got less than "
                     "80% of the cores: rerun on a quiet machine before reading it")
    return "\n".join(line.rstrip() for line in lines)


def smoke_check(res: dict) -> list[str]:
    """What must be present for the harness to count as working."""
    sc = res["scenarios"]
    problems = []
    meta = res["meta"]
    small, large = meta["users"], meta["users_large"]
    wrk_keys = ["health", "users_me", "login", "register", f"list_v1_{small}", f"list_v1_{large}",
                f"list_fr_q_{small}", f"list_fr_q_{large}"]
    for k in wrk_keys:
        r = sc.get(k)
        if not r or r["requests"] <= 0 or r["rps"] <= 0:
            problems.append(f"{k}: no requests measured")
    for k in ("health", "users_me", f"list_v1_{small}", f"list_fr_q_{large}"):
        r = sc.get(k)
        if r and r["errors_total"]:
            problems.append(f"{k}: {r['errors']} errors (the requests themselves are wrong)")
    st = sc.get("storm", {})
    for k in ("login", "health_probe", "users_me_probe"):
        if not st.get(k) or st[k]["requests"] <= 0:
            problems.append(f"storm {k}: no requests measured")
    if not sc.get("verify", {}).get("hash_ceiling_rps"):
        problems.append("verify: no verify time / hash ceiling")
    if not sc.get("rss", {}).get("idle_kib") or not sc.get("rss", {}).get("peak_storm_kib"):
        problems.append("rss: not sampled")
    if not sc.get("startup", {}).get("median_ms"):
        problems.append("startup: not measured")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__)
    p.add_argument("--store", choices=["memory", "embedded", "mongo"], default="embedded")
    p.add_argument("--duration", type=int, default=15, help="seconds per scenario (default 15)")
    p.add_argument("--connections", type=int, default=64, help="connections of saturating scenarios")
    p.add_argument("--users", type=int, default=10000,
                   help="users seeded on the main instance (real hashing) and the small list size")
    p.add_argument("--list-factor", type=int, default=10, help="large list size = users x this")
    p.add_argument("--smoke", action="store_true", help="seconds-long self-check of the harness")
    p.add_argument("--bin", type=Path, required=True, help="the users-service binary")
    p.add_argument("--out", type=Path, help="results directory (default bench/results; smoke: none)")
    p.add_argument("--workers", type=int, help="USERS__SERVER__WORKERS (default: the service's)")
    p.add_argument("--log-level", help="USERS__LOG__LEVEL (default: the service's, info)")
    p.add_argument("--seed-parallel", type=int, help="registrations in flight while seeding with "
                   "real hashing (default 2 x cores)")
    p.add_argument("--startups", type=int, default=7, help="starts timed for the start-up median")
    p.add_argument("--probe-delay-ms", type=int, default=20,
                   help="pause between probe requests on each of the 2 probe connections")
    p.add_argument("--max-wall", type=float, help="bound on the whole run in seconds")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, stores)")
    p.add_argument("--tag", help="label of a variant (e.g. an allocator setting): recorded in "
                   "the JSON and appended to its file name")
    a = p.parse_args()

    if a.smoke:
        a.duration = min(a.duration, 1) if "--duration" in sys.argv else 1
        a.users = a.users if "--users" in sys.argv else 20
        a.connections = a.connections if "--connections" in sys.argv else 8
        a.startups = 2 if "--startups" not in sys.argv else a.startups
        a.list_factor = a.list_factor if "--list-factor" in sys.argv else 5
    if a.duration < 1 or a.connections < 1 or a.users < 1 or a.list_factor < 2:
        p.error("--duration, --connections and --users must be >= 1, --list-factor >= 2")
    a.verify_duration = 1 if a.smoke else min(5, a.duration)
    a.seed_parallel = a.seed_parallel or 2 * cores()
    a.seed_parallel_cheap = 4 * cores()
    a.seed_timeout = 1800.0
    if a.max_wall is None:
        a.max_wall = 300.0 if a.smoke else 3600.0 + 0.05 * a.users
    a.bin = a.bin.resolve()
    if not os.access(a.bin, os.X_OK):
        p.error(f"--bin {a.bin}: not an executable")

    run = Run(a)
    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        res = run.execute()
    except HarnessError as e:
        log(f"HARNESS FAILURE: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; processes stopped")
        return 130

    print(table(res))
    if a.smoke:
        problems = smoke_check(res)
        print(f"smoke: {'OK' if not problems else 'BROKEN'} in {res['meta']['wall_s']} s")
        for pr in problems:
            print(f"  - {pr}")
        if a.out:
            write_results(res, a.out)
        return 1 if problems else 0
    write_results(res, a.out or ROOT / "bench" / "results")
    fails = [t for t in res["targets"] if t["verdict"] in ("FAIL", "FAIL*")]
    print(f"targets: {len(res['targets']) - len(fails)} PASS, {len(fails)} FAIL "
          f"(a missed target never fails the run); wall {res['meta']['wall_s']} s")
    return 0


def write_results(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-smoke" if res["meta"]["smoke"] else ""
    if res["meta"].get("tag"):
        suffix += "-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", res["meta"]["tag"])
    path = out / f"{stamp}-{res['meta']['store']}{suffix}.json"
    path.write_text(json.dumps(res, indent=2) + "\n")
    print(f"results: {path}")


if __name__ == "__main__":
    sys.exit(main())
