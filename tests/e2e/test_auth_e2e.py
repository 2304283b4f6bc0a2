"""Auth against `baas serve` (granian with two HTTP worker processes, a Celery worker, beat)
as deployed: sign-up mail through a real SMTP server, mail retried while that server is
down, rate limits shared by the HTTP processes, and refresh-token reuse racing on the
served database.

On the SQLite profile the server runs the embedded default (file database, database
cache); on the PostgreSQL profile a fresh database and its own Redis database
(servers.backing_services). The SMTP server is aiosmtpd on a free local port.
"""

from __future__ import annotations

import email
import http.client
import json
import re
import socket
import threading
import time

import pytest
import requests
from aiosmtpd.controller import Controller

from tests.e2e import servers

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-42"
ADMIN = "owner@example.com"
MAIL_WAIT = 60.0  # the worker's first retry comes within retry_backoff (10 s) + jitter


class Inbox:
    """aiosmtpd handler: keeps every delivered message."""

    def __init__(self):
        self.messages: list[tuple[list[str], email.message.Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def wait_for(self, recipient: str, timeout: float = MAIL_WAIT) -> str:
        """The text body of the first message to `recipient` (polls)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for to, message in self.messages:
                    if recipient in to:
                        return text_of(message)
            time.sleep(0.2)
        raise AssertionError(f"no mail to {recipient} within {timeout}s")


def text_of(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(
                part.get_content_charset() or "utf-8"
            )
    raise AssertionError("no text/plain part")


def code_in(body: str) -> str:
    codes = re.findall(r"^\s*([A-Z0-9][A-Z0-9-]{3,15})\s*$", body, re.MULTILINE)
    assert codes, body
    return codes[0]


class SmtpServer:
    """aiosmtpd on one fixed local port, stoppable and startable again."""

    def __init__(self, inbox: Inbox):
        self.inbox = inbox
        self.port = servers.free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer(Inbox())
    server.start()
    try:
        yield server, server.inbox
    finally:
        server.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("auth-e2e")


@pytest.fixture(scope="module")
def served(smtp, data_dir):
    controller, _ = smtp
    with servers.backing_services() as services:
        env = servers.server_env(
            data_dir,
            **services,
            BAAS_EMAIL_BACKEND="smtp",
            BAAS_SMTP_HOST="127.0.0.1",
            BAAS_SMTP_PORT=str(controller.port),
            BAAS_SMTP_TIMEOUT="5",
            BAAS_EMAIL_FROM="app@example.com",
            BAAS_SERVE_WORKERS="2",
        )
        server = servers.start_server(
            ["serve"], env=env, log_dir=data_dir, name="serve"
        )
        try:
            server.wait_healthy()
            created = servers.run_baas(
                "createsuperuser", "--email", ADMIN, "--password", PASSWORD, env=env
            )
            assert created.returncode == 0, created.stderr
            server.env = env
            yield server
        finally:
            server.kill()


def sign_up(server, address: str) -> requests.Response:
    return requests.post(
        f"{server.url}/api/v1/auth/signup",
        json={"email": address, "password": PASSWORD},
        timeout=30,
    )


def test_sign_up_mails_a_code_over_smtp_that_verifies_the_account(served, smtp):
    _, inbox = smtp
    response = sign_up(served, "new-user@example.com")
    assert response.status_code == 401, response.text  # verify the email first
    token = response.json()["meta"]["session_token"]
    body = inbox.wait_for("new-user@example.com")
    verified = requests.post(
        f"{served.url}/api/v1/auth/email/verify",
        json={"key": code_in(body)},
        headers={"X-Session-Token": token},
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    meta = verified.json()["meta"]
    assert meta["access_token"] and meta["refresh_token"]
    refreshed = requests.post(
        f"{served.url}/api/v1/tokens/refresh",
        json={"refresh_token": meta["refresh_token"]},
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    # And the account signs in with its password from now on.
    again = requests.post(
        f"{served.url}/api/v1/auth/login",
        json={"email": "new-user@example.com", "password": PASSWORD},
        timeout=30,
    )
    assert again.status_code == 200, again.text


def test_a_wrong_code_does_not_verify(served, smtp):
    _, inbox = smtp
    response = sign_up(served, "wrong-code@example.com")
    token = response.json()["meta"]["session_token"]
    inbox.wait_for("wrong-code@example.com")
    refused = requests.post(
        f"{served.url}/api/v1/auth/email/verify",
        json={"key": "NOPE42"},
        headers={"X-Session-Token": token},
        timeout=30,
    )
    assert refused.status_code == 400, refused.text
    assert "access_token" not in refused.text


class UnavailableMailServer:
    """A mail server that is down for business: it takes each connection, answers
    `421 Service not available` and hangs up (smtplib raises), counting the attempts."""

    def __init__(self, port: int):
        self.attempts = 0
        self.sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                self.attempts += 1
                conn.sendall(b"421 127.0.0.1 Service not available\r\n")

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()

    def wait_for_attempts(self, count: int, timeout: float = MAIL_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while self.attempts < count and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.attempts >= count, f"{self.attempts} delivery attempts"


def test_with_the_smtp_server_down_sign_up_answers_and_the_worker_retries(served, smtp):
    mail_server, inbox = smtp
    mail_server.stop()
    down = UnavailableMailServer(mail_server.port)
    try:
        # Answers within the client's timeout, with the usual status: the mail is queued.
        response = sign_up(served, "while-down@example.com")
        assert response.status_code == 401, response.text
        down.wait_for_attempts(1)  # the worker tried, and failed
    finally:
        down.close()
        mail_server.start()
    body = inbox.wait_for("while-down@example.com")  # ... and retried
    assert code_in(body)


def request_from(server, source_ip: str, path: str, body: dict):
    """One request on a fresh connection from `source_ip` (a loopback address) ->
    (status, pid of the HTTP worker process that answered)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=30, source_address=(source_ip, 0)
    )
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        inode = servers._socket_inode(server.port, conn.sock.getsockname()[1])
        pid = inode and servers._holder(inode, [p.pid for p in server.children()])
        return response.status, pid, response.getheader("Retry-After")
    finally:
        conn.close()


@pytest.fixture
def web(served, data_dir):
    """`baas web` (granian, two worker processes) on the same data: `baas serve` puts
    its workers behind a proxy, where a connection does not show which one answered."""
    server = servers.start_server(
        ["web", "--host", "127.0.0.1", "--workers", "2"],
        env=served.env,
        log_dir=data_dir,
        name="web",
    )
    try:
        server.wait_healthy()
        yield server
    finally:
        server.kill()


def test_the_rate_limit_is_shared_by_both_http_processes(web):
    """The per-account failed-login limit (5 per 5 minutes): every attempt on a fresh
    connection, so granian's two worker processes take turns; whichever answers, the
    sixth attempt and every later one is 429."""
    served = web
    attempt = {"email": "target@example.com", "password": "a-wrong-guess"}
    answers = []
    for _ in range(5):
        answers.append(request_from(served, "127.0.0.2", "/api/v1/auth/login", attempt))
    assert [status for status, _, _ in answers] == [400] * 5, answers
    limited_pids = set()
    for _ in range(100):
        status, pid, retry_after = request_from(
            served, "127.0.0.2", "/api/v1/auth/login", attempt
        )
        assert status == 429, (status, pid)
        assert 1 <= int(retry_after) <= 300
        limited_pids.add(pid)
        if len(limited_pids - {None}) >= 2:
            break
    assert len(limited_pids - {None}) >= 2, limited_pids
    # Another client address still logs in: the limit is per account and per IP.
    ok = requests.post(
        f"{served.url}/api/v1/auth/login",
        json={"email": ADMIN, "password": PASSWORD},
        timeout=30,
    )
    assert ok.status_code == 200, ok.text


CONCURRENT = 20


def test_twenty_concurrent_refreshes_of_one_token_let_at_most_one_through(served):
    login = requests.post(
        f"{served.url}/api/v1/auth/login",
        json={"email": ADMIN, "password": PASSWORD},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    meta = login.json()["meta"]
    barrier = threading.Barrier(CONCURRENT)
    results: list = [None] * CONCURRENT

    def attempt(index: int) -> None:
        barrier.wait()
        results[index] = requests.post(
            f"{served.url}/api/v1/tokens/refresh",
            json={"refresh_token": meta["refresh_token"]},
            timeout=60,
        )

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) <= 1, statuses
    assert set(statuses) <= {200, 401}, statuses
    winners = [r.json()["data"] for r in results if r.status_code == 200]
    for pair in winners:
        again = requests.post(
            f"{served.url}/api/v1/tokens/refresh",
            json={"refresh_token": pair["refresh_token"]},
            timeout=30,
        )
        assert again.status_code == 401, again.text
        assert not works(served, pair["access_token"])
    assert not works(served, meta["access_token"])


def works(server, access_token: str) -> bool:
    response = requests.get(
        f"{server.url}/api/v1/collections/users/records",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=30,
    )
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200
