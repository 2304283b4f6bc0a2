"""What the webhook tests share: a real HTTP receiver on loopback that checks each
request's Standard Webhooks signature, a `posts` collection, and webhook creation."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as Verifier

from apps.hooks import webhook_delivery
from apps.hooks.models import WebhookDelivery
from baas.celery import app
from tests.records.test_records_crud import create_collection

WEBHOOKS = "/api/v1/webhooks"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: object = None  # the parsed body, once the signature was checked

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def type(self) -> str:
        return self.verified["type"]


@dataclass
class Receiver:
    """A ThreadingHTTPServer on 127.0.0.1. `answers`: statuses to give, in turn
    (then 200); `status_for`: a status per request instead; `handler`: replaces the
    answer entirely (slow, huge, redirecting)."""

    server: http.server.ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    handler: object = None
    status_for: object = None
    secret: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def verified(self) -> list[Received]:
        """Every request, each checked against the webhook's secret."""
        assert self.secret, "set receiver.secret to the webhook's secret"
        for request in self.requests:
            request.verified = Verifier(self.secret).verify(
                request.body, request.headers
            )
        return list(self.requests)

    def types(self) -> list[str]:
        return [r.type for r in self.verified()]


def _handler_class(receiver: Receiver):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(self.path, headers, body)
            with receiver.lock:
                receiver.requests.append(received)
                status = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.status_for is not None:
                    status = receiver.status_for(received)
            if receiver.handler is not None:
                receiver.handler(self)
                return
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return Handler


def start_receiver() -> Receiver:
    receiver = Receiver(server=None)  # type: ignore[arg-type]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(receiver))
    server.daemon_threads = True
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def private_allowed(settings):
    """Loopback targets allowed (the receiver lives on 127.0.0.1)."""
    settings.BAAS_WEBHOOK_ALLOW_PRIVATE = True
    settings.BAAS_WEBHOOK_TIMEOUT = 2.0
    return settings


@pytest.fixture
def eager_errors():
    """A task that raises fails the test (eager tasks keep errors to themselves)."""
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_eager_propagates = False


@pytest.fixture
def posts(schema_db, admin):
    create_collection(
        admin,
        "posts",
        [
            {"name": "title", "type": "text"},
            {"name": "status", "type": "text"},
            {"name": "score", "type": "number"},
        ],
    )
    return "posts"


def create_webhook(admin, url: str, events=("posts.*",), **extra) -> dict:
    response = admin.post(
        WEBHOOKS, {"url": url, "events": list(events), **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def deliveries(**filters) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(**filters).order_by("seq", "created"))


def time_passes(seconds: float = 10**6) -> None:
    """Every retry and lease comes due, as if `seconds` had gone by."""
    for delivery in WebhookDelivery.objects.exclude(next_attempt_at=None):
        delivery.next_attempt_at -= timedelta(seconds=seconds)
        delivery.save(update_fields=["next_attempt_at"])


def sweep_until_quiet(rounds: int = 20) -> None:
    """Let time pass and sweep until nothing is due (all succeeded or given up)."""
    for _ in range(rounds):
        time_passes()
        if not webhook_delivery.sweep():
            return
    raise AssertionError("deliveries kept coming due")


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def recently(value: str | None, seconds: float = 60) -> bool:
    from datetime import datetime

    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return abs((timezone.now() - moment).total_seconds()) < seconds
