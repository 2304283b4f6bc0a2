"""Emailed codes against concurrent requests, on `baas serve` (two HTTP processes with
several threads each, the embedded worker delivering mail to files): three wrong codes
void a code however many guesses arrive at once, and one code resets a password once.

allauth keeps a pending code and its failed-attempt counter in the flow's session; the
code-checking endpoints hold that session's row for the whole request
(apps.accounts.codelock), so parallel guesses are counted one after another, across
processes. On the SQLite profile the server runs the embedded default (file database);
on the PostgreSQL profile a fresh database and its own Redis database.
"""

from __future__ import annotations

import email
import http.client
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e import servers

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery-42"
MAX_ATTEMPTS = 3  # allauth's default for each kind of code
GUESSES = 15
RESETS = 10
MAIL_WAIT = 60.0
SEPARATOR = "\n" + "-" * 79 + "\n"  # between messages in a file of the file backend
CODE = r"^\s*([A-Z0-9][A-Z0-9-]{3,15})\s*$"  # a line with only the code on it


@dataclass
class Served:
    server: servers.Server
    mail_dir: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("auth-codes")
    with servers.backing_services() as services:
        env = servers.server_env(
            data_dir,
            **services,
            BAAS_EMAIL_BACKEND="file",
            BAAS_SERVE_WORKERS="2",
            BAAS_SERVE_THREADS="8",  # 16 requests at once: every guess in flight together
        )
        server = servers.start_server(
            ["serve"], env=env, log_dir=data_dir, name="serve"
        )
        try:
            server.wait_healthy()
            yield Served(server, data_dir / "mail")
        finally:
            server.kill()


def call(
    served: Served,
    method: str,
    path: str,
    body: dict | None = None,
    *,
    source: str,
    session_token: str | None = None,
    browser: Browser | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict]:
    """One request on its own connection from `source` (a loopback address: the
    per-IP rate limits of one test do not reach the next); with `browser`, as the
    browser client (its cookies and CSRF header, the cookies it is given kept)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", served.server.port, timeout=60, source_address=(source, 0)
    )
    headers = {"Content-Type": "application/json", **(headers or {})}
    if session_token:
        headers["X-Session-Token"] = session_token
    if browser is not None:
        headers.update(browser.headers())
    try:
        conn.request(
            method,
            path,
            body=None if body is None else json.dumps(body),
            headers=headers,
        )
        response = conn.getresponse()
        raw = response.read()
        if browser is not None:
            browser.keep(response.headers.get_all("Set-Cookie") or [])
        return response.status, (json.loads(raw) if raw else {})
    finally:
        conn.close()


class Browser:
    """The cookies of a web app using the browser client (session cookie + CSRF)."""

    def __init__(self, cookies: dict[str, str] | None = None) -> None:
        self.cookies = dict(cookies or {})

    def keep(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()

    def headers(self) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        return headers


def in_parallel(count: int, action) -> list:
    """action(i) for i in range(count), all released at once; their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = action(index)
        except Exception as exc:  # reported by the test, not lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def status_of(answer) -> int | str:
    """The status of an answer from in_parallel (or the error its request raised)."""
    return answer[0] if isinstance(answer, tuple) else repr(answer)


# The subject of each kind of code's mail (allauth's wording).
SUBJECTS = {
    "verify_email": "Please Confirm Your Email Address",
    "password_reset_by_code": "Password Reset Code",
    "login_by_code": "Sign-In Code",
}


def mailed_code(served: Served, address: str, flow: str) -> str:
    """The code of `flow` in a message the worker delivered to `address`."""
    deadline = time.monotonic() + MAIL_WAIT
    while time.monotonic() < deadline:
        for path in served.mail_dir.glob("*.log"):
            for raw in path.read_text(errors="replace").split(SEPARATOR):
                message = email.message_from_string(raw.strip())
                if message["To"] == address and SUBJECTS[flow] in message["Subject"]:
                    codes = re.findall(CODE, message_text(message), re.MULTILINE)
                    if codes:  # (else the worker is still writing it)
                        return codes[0]
        time.sleep(0.2)
    raise AssertionError(f"no mail to {address} within {MAIL_WAIT}s")


def message_text(message: email.message.Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8")
    return ""


def pending_flow(status: int, body: dict) -> tuple[str, str]:
    """A 401 asking for the next step -> (the pending flow's id, the session token)."""
    assert status == 401, body
    flows = [f["id"] for f in body["data"]["flows"] if f.get("is_pending")]
    assert len(flows) == 1, body
    return flows[0], body["meta"]["session_token"]


def sign_up(served: Served, address: str, source: str) -> str:
    """A new account; the session token of its pending email verification."""
    answer = call(
        served,
        "POST",
        "/api/v1/auth/signup",
        {"email": address, "password": PASSWORD},
        source=source,
    )
    flow, token = pending_flow(*answer)
    assert flow == "verify_email"
    return token


def verified_account(served: Served, address: str, source: str) -> str:
    token = sign_up(served, address, source)
    status, body = call(
        served,
        "POST",
        "/api/v1/auth/email/verify",
        {"key": mailed_code(served, address, "verify_email")},
        source=source,
        session_token=token,
    )
    assert status == 200, body
    return address


def logs_in(served: Served, address: str, password: str, source: str) -> bool:
    status, body = call(
        served,
        "POST",
        "/api/v1/auth/login",
        {"email": address, "password": password},
        source=source,
    )
    assert status in (200, 400), body
    return status == 200


@dataclass
class CodeFlow:
    """A flow that mails a code: where it starts, where its code goes, and the loopback
    address its test sends from."""

    name: str
    start_path: str | None  # None: the sign-up starts it
    path: str
    field: str
    source: str

    def start(self, served: Served, address: str) -> str:
        """Start the flow for a new address; returns its session token."""
        if self.start_path is None:
            return sign_up(served, address, self.source)
        verified_account(served, address, self.source)
        answer = call(
            served, "POST", self.start_path, {"email": address}, source=self.source
        )
        flow, token = pending_flow(*answer)
        assert flow == self.name
        return token

    def body(self, code: str) -> dict:
        body = {self.field: code}
        if self.name == "password_reset_by_code":
            body["password"] = "a-new-pass-phrase-77"
        return body


FLOWS = [
    CodeFlow(
        "password_reset_by_code",
        "/api/v1/auth/password/request",
        "/api/v1/auth/password/reset",
        "key",
        "127.0.0.11",
    ),
    CodeFlow(
        "login_by_code",
        "/api/v1/auth/code/request",
        "/api/v1/auth/code/confirm",
        "code",
        "127.0.0.12",
    ),
    CodeFlow("verify_email", None, "/api/v1/auth/email/verify", "key", "127.0.0.13"),
]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.name)
def test_fifteen_parallel_wrong_guesses_leave_the_code_void(served, flow):
    source = flow.source
    address = f"guessed-{flow.name.replace('_', '-')}@example.com"
    token = flow.start(served, address)
    code = mailed_code(served, address, flow.name)

    def guess(index: int) -> tuple[int, dict]:
        wrong = f"WRONG{index:03d}"
        return call(
            served,
            "POST",
            flow.path,
            flow.body(wrong),
            source=source,
            session_token=token,
        )

    answers = in_parallel(GUESSES, guess)
    statuses = [status_of(answer) for answer in answers]
    # At most three guesses are weighed (400, the code is wrong); once the third is,
    # the flow is void and every other guess finds nothing pending (409).
    assert statuses.count(400) <= MAX_ATTEMPTS, statuses
    assert set(statuses) <= {400, 409}, statuses
    status, body = call(
        served, "POST", flow.path, flow.body(code), source=source, session_token=token
    )
    assert status == 409, body  # the right code comes too late
    assert "access_token" not in json.dumps(body)
    if flow.name == "password_reset_by_code":
        assert logs_in(served, address, PASSWORD, source)


def test_ten_parallel_resets_with_one_valid_code_change_the_password_once(served):
    source = "127.0.0.14"
    address = "reset-race@example.com"
    verified_account(served, address, source)
    flow, token = pending_flow(
        *call(
            served,
            "POST",
            "/api/v1/auth/password/request",
            {"email": address},
            source=source,
        )
    )
    assert flow == "password_reset_by_code"
    code = mailed_code(served, address, "password_reset_by_code")

    def reset(index: int) -> tuple[int, dict]:
        return call(
            served,
            "POST",
            "/api/v1/auth/password/reset",
            {"key": code, "password": f"new-pass-phrase-{index:02d}"},
            source=source,
            session_token=token,
        )

    answers = in_parallel(RESETS, reset)
    statuses = [status_of(answer) for answer in answers]
    # A reset answers 401 (done, not signed in); the rest find the flow finished: 409.
    done = [index for index, status in enumerate(statuses) if status in (200, 401)]
    assert len(done) == 1, statuses
    assert set(statuses) - {200, 401} <= {409}, statuses
    assert logs_in(served, address, f"new-pass-phrase-{done[0]:02d}", source)


def test_the_browser_clients_cookie_session_is_counted_one_guess_at_a_time(served):
    source = "127.0.0.15"
    address = "browser-guess@example.com"
    verified_account(served, address, source)
    browser = Browser()
    status, _ = call(
        served, "GET", "/api/browser/v1/config", source=source, browser=browser
    )
    assert status == 200 and "csrftoken" in browser.cookies
    status, body = call(
        served,
        "POST",
        "/api/browser/v1/auth/password/request",
        {"email": address},
        source=source,
        browser=browser,
    )
    assert status == 401 and "sessionid" in browser.cookies, body
    code = mailed_code(served, address, "password_reset_by_code")
    path = "/api/browser/v1/auth/password/reset"

    def guess(index: int) -> tuple[int, dict]:
        wrong = {"key": f"WRONG{index:03d}", "password": "a-new-pass-phrase-77"}
        same = Browser(browser.cookies)  # each guess with the cookies of the flow
        return call(served, "POST", path, wrong, source=source, browser=same)

    answers = in_parallel(GUESSES, guess)
    statuses = [status_of(answer) for answer in answers]
    assert statuses.count(400) <= MAX_ATTEMPTS, statuses
    assert set(statuses) <= {400, 409}, statuses
    right = {"key": code, "password": "a-new-pass-phrase-77"}
    status, body = call(served, "POST", path, right, source=source, browser=browser)
    assert status == 409, body
    assert logs_in(served, address, PASSWORD, source)


def test_parallel_upgrades_of_one_guest_are_served_one_after_another(served):
    """Requests that rewrite one device's session at once (six guest upgrades with the
    same token; a password change is the same case) are served one at a time: each
    answers as if alone, none with a 500, and the device stays signed in."""
    source = "127.0.0.14"
    status, body = call(served, "POST", "/api/v1/auth/guest", source=source)
    assert status == 200, body
    bearer = {"Authorization": f"Bearer {body['meta']['access_token']}"}

    def upgrade(index: int):
        return call(
            served,
            "POST",
            "/api/v1/auth/guest/upgrade",
            {"email": f"racer{index}@example.com", "password": PASSWORD},
            source=source,
            headers=bearer,
        )

    answers = in_parallel(6, upgrade)
    assert [status_of(answer) for answer in answers] == [202] * 6, answers
    status, body = call(
        served, "GET", "/api/v1/auth/session", source=source, headers=bearer
    )
    assert status == 200, body
