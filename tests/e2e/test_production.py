"""The production profile as docs/operations.md runs it: `baas web`, `baas worker` and
`baas beat` as separate processes on PostgreSQL and Redis with BAAS_ENV=production, mail
through a real SMTP server (aiosmtpd); then the broker (Redis) stopped mid-run and
started again.

scripts/test runs these processes from a virtualenv with the runtime dependencies only
(BAAS_RUNTIME_BIN=.venv-runtime/bin), so a module that only the test tools bring in
cannot hide a missing dependency. The broker is a `redis-server` of this module's own on
a free port: stopping it touches no other test's Redis.
"""

from __future__ import annotations

import subprocess
import time

import psycopg
import pytest
import redis
import requests

from baas.config import generate_rsa_private_key, generate_secret_key
from tests.conftest import on_postgres
from tests.e2e import servers
from tests.e2e.test_auth_e2e import Inbox, SmtpServer, code_in

pytestmark = [pytest.mark.slow, on_postgres]

PASSWORD = "correct-horse-battery-42"
WAIT = 60.0


class RedisServer:
    """A private `redis-server` on one fixed free port, stoppable and startable again."""

    def __init__(self, directory):
        self.port = servers.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer(Inbox())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def database():
    with servers.fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def cache():
    with servers.fresh_redis_database() as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp, broker, database, cache):
    """`baas web`, `baas worker` and `baas beat` on one database, migrated; the cache on
    the profile's Redis, the broker on this module's own."""
    data_dir = tmp_path_factory.mktemp("production")
    env = servers.server_env(
        data_dir,
        BAAS_ENV="production",
        BAAS_SECRET_KEY=generate_secret_key(),
        BAAS_JWT_PRIVATE_KEY=generate_rsa_private_key(),
        BAAS_ALLOWED_HOSTS="127.0.0.1",
        BAAS_SSL_REDIRECT="false",  # no TLS-terminating proxy in front here
        BAAS_DATABASE_URL=database,
        BAAS_REDIS_URL=cache,
        BAAS_BROKER_URL=broker.url,
        BAAS_EMAIL_BACKEND="smtp",
        BAAS_SMTP_HOST="127.0.0.1",
        BAAS_SMTP_PORT=str(smtp.port),
        BAAS_SMTP_TIMEOUT="5",
        BAAS_EMAIL_FROM="app@example.com",
        BAAS_OUTBOX_INTERVAL="1",
        BAAS_WEB_WORKERS="1",
    )
    migrated = servers.run_baas("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    web = servers.start_server(
        ["web", "--host", "127.0.0.1"], env=env, log_dir=data_dir, name="web"
    )
    parts = [web]
    try:
        for name, args in (
            ("worker", ["worker", "--concurrency", "1"]),
            ("beat", ["beat"]),
        ):
            parts.append(
                servers.Server(args, env=env, log_dir=data_dir, name=name, port=0)
            )
        web.wait_healthy()
        yield web, *parts[1:]
    finally:
        for part in parts:
            part.kill()


def sign_up(web, address: str) -> requests.Response:
    return requests.post(
        f"{web.url}/api/v1/auth/signup",
        json={"email": address, "password": PASSWORD},
        timeout=30,
    )


def verify(web, session_token: str, code: str) -> requests.Response:
    return requests.post(
        f"{web.url}/api/v1/auth/email/verify",
        json={"key": code},
        headers={"X-Session-Token": session_token},
        timeout=30,
    )


def readyz(web) -> requests.Response:
    return requests.get(f"{web.url}/readyz", timeout=30)


def wait_ready(web) -> requests.Response:
    deadline = time.monotonic() + WAIT
    while (response := readyz(web)).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.2)
    return response


def outbox(database: str) -> list[tuple[str, int]]:
    with psycopg.connect(database) as conn:
        return conn.execute(
            "SELECT task, attempts FROM baas_outbox_message ORDER BY id"
        ).fetchall()


def test_web_worker_and_beat_run_as_separate_processes(stack):
    for part in stack:
        assert part.running(), part.logs()
    worker, beat = stack[1], stack[2]
    assert any(
        "celery" in p.cmdline and "worker" in p.cmdline for p in worker.children()
    )
    assert any("celery" in p.cmdline and "beat" in p.cmdline for p in beat.children())


def test_readyz_reports_database_cache_and_broker_ready(stack):
    response = readyz(stack[0])
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
    }


def test_the_worker_mails_a_sign_up_code_that_verifies_the_account(stack, smtp):
    web = stack[0]
    response = sign_up(web, "first@example.com")
    assert response.status_code == 401, response.text  # verify the address first
    code = code_in(smtp.inbox.wait_for("first@example.com", timeout=WAIT))
    verified = verify(web, response.json()["meta"]["session_token"], code)
    assert verified.status_code == 200, verified.text
    assert verified.json()["meta"]["access_token"]


def test_a_sign_up_while_the_broker_is_down_is_answered_and_mailed_once_it_is_back(
    stack, smtp, broker, database
):
    web = stack[0]
    broker.stop()
    down = readyz(web)
    assert down.status_code == 503, down.text
    assert down.json()["checks"]["broker"] != "ok"

    response = sign_up(web, "during-outage@example.com")
    assert response.status_code == 401, response.text  # as usual: verify the address
    assert outbox(database) == [("baas.core.send_email", 1)]

    broker.start()
    code = code_in(smtp.inbox.wait_for("during-outage@example.com", timeout=WAIT))
    verified = verify(web, response.json()["meta"]["session_token"], code)
    assert verified.status_code == 200, verified.text
    assert outbox(database) == []
    wait_ready(web)
