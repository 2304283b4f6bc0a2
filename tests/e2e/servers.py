"""Helpers for end-to-end tests that run the real `baas` command as subprocesses.

A server gets its own data directory and, on the PostgreSQL profile, its own fresh database
and Redis database number: never the pytest-django test database, never Redis db 0 (the
in-process tests' cache). Process trees are inspected through /proc, so a test can prove that
stopping a server leaves no child behind.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parents[2]
# `baas` as installed: scripts/test points BAAS_RUNTIME_BIN at a virtualenv with the
# runtime dependencies only (.venv-runtime/bin); a plain pytest runs its own .venv/bin/baas.
BIN = Path(os.environ.get("BAAS_RUNTIME_BIN") or Path(sys.executable).parent)
BAAS = str(BIN / "baas")  # .venv/bin/baas, as README says
PYTHON = sys.executable
STARTUP_TIMEOUT = 90.0


def postgres_profile() -> bool:
    return os.environ.get("BAAS_DATABASE_URL", "").startswith("postgres")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- backing services ---------------------------------------------------------------------


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database on the profile's PostgreSQL server; dropped afterwards."""
    import psycopg

    parts = urlsplit(os.environ["BAAS_DATABASE_URL"])
    name = f"e2e_{secrets.token_hex(6)}"
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: Redis database numbers held by servers alive now (one test process per profile)
_redis_databases_in_use: set[int] = set()


@contextmanager
def fresh_redis_database() -> Iterator[str]:
    """The profile's Redis server with a database number of our own (flushed before and
    after). Never one a live server holds: two servers on one database would run each
    other's Celery tasks (the console's session-long server took the auth tests' mail)."""
    import redis

    free = sorted(set(range(1, 16)) - _redis_databases_in_use)
    assert free, "every Redis database (1-15) is held by a live test server"
    number = secrets.choice(free)
    _redis_databases_in_use.add(number)
    parts = urlsplit(os.environ["BAAS_REDIS_URL"])
    url = urlunsplit(parts._replace(path=f"/{number}"))
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        _redis_databases_in_use.discard(number)


@contextmanager
def backing_services() -> Iterator[dict[str, str]]:
    """Environment for a server: nothing (embedded SQLite) or a fresh PostgreSQL + Redis,
    and the S3-compatible storage scripts/test started."""
    s3 = {k: v for k, v in os.environ.items() if k.startswith("BAAS_S3_")}
    if not postgres_profile():
        yield s3
        return
    with fresh_postgres_database() as database_url, fresh_redis_database() as redis_url:
        yield {"BAAS_DATABASE_URL": database_url, "BAAS_REDIS_URL": redis_url, **s3}


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any BAAS_* or Django setting, plus the given ones."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BAAS_") and k != "DJANGO_SETTINGS_MODULE"
    }
    # A fresh terminal: the virtualenv is not activated, so `baas` is not on PATH.
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    venvs = {BIN.resolve(), Path(sys.executable).parent.resolve()}
    env["PATH"] = os.pathsep.join(
        p for p in path if p and Path(p).resolve() not in venvs
    )
    env["BAAS_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def run_baas(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run one `baas` command to completion (migrate, createsuperuser, ...)."""
    return subprocess.run(
        [BAAS, *args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


# --- /proc ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    state: str
    start_time: int  # clock ticks since boot: tells a pid apart from a later reuse
    cmdline: str


def _read_proc(pid: int) -> ProcInfo | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = stat.rpartition(")")[2].split()  # comm may contain spaces and parentheses
    cmdline = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return ProcInfo(pid, int(rest[1]), rest[0], int(rest[19]), cmdline)


def process_table() -> dict[int, ProcInfo]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _read_proc(int(entry))
            if info is not None:
                table[info.pid] = info
    return table


def descendants(pid: int) -> list[ProcInfo]:
    """Every live process below `pid` (children, grandchildren, ...)."""
    table = process_table()
    children: dict[int, list[ProcInfo]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def still_running(processes: list[ProcInfo]) -> list[ProcInfo]:
    """Those of `processes` that still run (an exited, not yet reaped zombie does not)."""
    alive = []
    for old in processes:
        now = _read_proc(old.pid)
        if now is not None and now.start_time == old.start_time and now.state != "Z":
            alive.append(now)
    return alive


# --- servers ----------------------------------------------------------------------------------


class Server:
    """A `baas ...` server process started in its own session, with logs in `log_dir`."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        log_dir: Path,
        name: str,
        port: int,
    ):
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [BAAS, *args],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.seen: dict[int, ProcInfo] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def logs(self, tail: int = 4000) -> str:
        err = self.stderr_path.read_text(errors="replace")
        return f"--- {self.name} stdout\n{self.stdout()[-tail:]}\n--- stderr\n{err[-tail:]}"

    def children(self) -> list[ProcInfo]:
        """The live process tree below the server; remembered for the orphan check."""
        found = descendants(self.pid)
        for info in found:
            self.seen.setdefault(info.pid, info)
        return found

    def wait_for_output(self, text: str, timeout: float = STARTUP_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.stdout()
            if text in out:
                return out
            if not self.running():
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode})\n{self.logs()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never printed {text!r}\n{self.logs()}")

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode})\n{self.logs()}"
                )
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    self.children()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not healthy after {timeout}s\n{self.logs()}")

    def stop(
        self, sig: int = signal.SIGTERM, *, group: bool = False, timeout: float = 10
    ) -> float:
        """Send `sig` (to the whole process group when `group`, like Ctrl-C in a terminal)
        and wait; returns the seconds it took to exit. Fails if it takes over `timeout`."""
        self.children()
        started = time.monotonic()
        if group:
            os.killpg(self.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            left = [p.cmdline for p in descendants(self.pid)]
            self.kill()
            raise AssertionError(
                f"{self.name} still running {timeout}s after {sig!r}: {left}\n{self.logs()}"
            ) from None
        return time.monotonic() - started

    def leftovers(self) -> list[ProcInfo]:
        """Processes ever seen below the server that still run."""
        return still_running(list(self.seen.values()))

    def kill(self) -> None:
        """Safety net for teardown: SIGKILL the server and every process seen below it."""
        if self.running():
            self.children()
        for info in still_running(list(self.seen.values())):
            try:
                os.kill(info.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.running():
            self.proc.kill()
        self.proc.wait(timeout=10)


def start_server(
    args: list[str], *, env: dict[str, str], log_dir: Path, name: str
) -> Server:
    """Start `baas <args> --port <free port>`; the caller waits (wait_healthy) and stops it."""
    port = free_port()
    return Server(
        [*args, "--port", str(port)], env=env, log_dir=log_dir, name=name, port=port
    )


def url_in(text: str) -> str:
    match = re.search(r"running at (http://\S+)", text)
    assert match, f"no URL in the output:\n{text}"
    return match.group(1)


# --- HTTP ---------------------------------------------------------------------------------------


class Api:
    """A tiny JSON client for one server: `api.post("/api/v1/collections", {...})`."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.token = token
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, body=None) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=body, timeout=30)

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def post(self, path: str, body) -> requests.Response:
        return self.request("POST", path, body)

    def patch(self, path: str, body) -> requests.Response:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> requests.Response:
        return self.request("DELETE", path)


def _socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of a local TCP connection (from /proc/net/tcp)."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in lines:
                cols = line.split()
                if cols[1].endswith(local) and cols[2].endswith(remote):
                    return cols[9]
    return None


def _holder(inode: str, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


def request_with_pid(server: Server, token: str, method: str, path: str, body=None):
    """One request on a new connection -> (status, JSON body, pid of the process that
    answered it), found through /proc while the kept-alive connection is still open."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        conn.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers=headers,
        )
        response = conn.getresponse()
        raw = response.read()
        inode = _socket_inode(server.port, conn.sock.getsockname()[1])
        pid = inode and _holder(inode, [p.pid for p in server.children()])
        return response.status, (json.loads(raw) if raw else None), pid
    finally:
        conn.close()


def login(base_url: str, email: str, password: str) -> Api:
    response = requests.post(
        f"{base_url}/api/v1/auth/login",
        json={"email": email, "password": password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return Api(base_url, response.json()["meta"]["access_token"])


# --- `baas serve` with its superuser -------------------------------------------------

EMAIL = "owner@example.com"
PASSWORD = "correct-horse-battery-42"
READY_LINE = "Press Ctrl-C to stop."


def hinted_createsuperuser(out: str) -> list[str]:
    """The createsuperuser command `serve` prints, as a user pastes it, with our credentials."""
    (line,) = [line for line in out.splitlines() if "createsuperuser" in line]
    argv = shlex.split(line)
    argv[argv.index("--email") + 1] = EMAIL
    argv[argv.index("--password") + 1] = PASSWORD
    return argv


def create_superuser(served: Server, env: dict[str, str]) -> None:
    """The createsuperuser command `serve` printed, run while the server runs."""
    created = subprocess.run(
        hinted_createsuperuser(served.stdout()),
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert created.returncode == 0, created.stderr
    assert f"Superuser {EMAIL} created." in created.stdout


@contextmanager
def serving(
    data_dir: Path, **extra_env: str
) -> Iterator[tuple[Server, dict[str, str]]]:
    """`baas serve` on the profile's backing services, answering, with the superuser
    EMAIL / PASSWORD created by the command it printed; killed afterwards."""
    with backing_services() as services:
        env = server_env(data_dir, **extra_env, **services)
        server = start_server(["serve"], env=env, log_dir=data_dir, name="serve")
        try:
            server.wait_for_output(READY_LINE)
            server.wait_healthy()
            create_superuser(server, env)
            yield server, env
        finally:
            server.kill()
