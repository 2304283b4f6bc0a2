"""The Python SDK's push (`client.push`, sdk/python) against a real server over HTTP: an
app user's devices and topics, a `push:send` key's messages (send, status, schedule,
cancel, list), opens, the VAPID key, and what the server refuses."""

from __future__ import annotations

import base64
import re
import secrets
import string
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import USER_PASSWORD

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client, MessagePage, new_idempotency_key  # noqa: E402

NEWS = "sdk-py-news"
ALERTS = "sdk-py-alerts"
CLOSED = "sdk-py-closed"
WEBPUSH_HOST = "push.example.test"
COUNTED = {"queued", "sent", "failed", "invalid_token", "opened"}


def fcm_token() -> str:
    """An FCM-shaped token: "fcm-" and 150 characters of its alphabet."""
    alphabet = string.ascii_letters + string.digits + "-_:"
    return "fcm-" + "".join(secrets.choice(alphabet) for _ in range(150))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def browser_subscription() -> dict:
    """A browser PushSubscription's JSON: a P-256 point as p256dh, 16 bytes of auth."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return {
        "endpoint": f"https://{WEBPUSH_HOST}/send/{secrets.token_hex(8)}",
        "keys": {"p256dh": b64url(point), "auth": b64url(secrets.token_bytes(16))},
    }


@pytest.fixture
def connect(server_url):
    """connect(**options) -> a Client for the live server, closed after the test."""
    clients: list[Client] = []

    def make(**options) -> Client:
        client = Client(server_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def superuser_client(connect, credentials) -> Client:
    client = connect()
    client.auth.login(*credentials)
    return client


@pytest.fixture
def topic_rules(superuser_client) -> None:
    """Any signed-in user may subscribe to any topic but CLOSED (superusers only).
    Topic rules are admin work, not in the SDK: the raw API."""
    for rule in ({"name": "*", "rule": ""}, {"name": CLOSED, "rule": None}):
        superuser_client.request("POST", "/push/topics", json=rule)


@pytest.fixture
def sender(connect, schema_db) -> Client:
    """A client with an API key of the `push:send` scope only."""
    from apps.accounts.apikeys import apikey_create

    _, plaintext = apikey_create(name="sdk push key", scopes=["push:send"])
    return connect(api_key=plaintext)


@pytest.fixture
def sign_in(connect, make_user):
    """sign_in(email) -> a Client signed in as a new app user."""

    def make(email: str) -> Client:
        make_user(email, USER_PASSWORD)
        client = connect()
        client.auth.login(email, USER_PASSWORD)
        return client

    return make


@pytest.fixture
def user(sign_in, topic_rules) -> Client:
    return sign_in("py.push@example.com")


@pytest.fixture
def other(sign_in) -> Client:
    return sign_in("py.push.other@example.com")


def error_of(call, *args, **kwargs) -> BaasError:
    with pytest.raises(BaasError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_the_vapid_public_key_is_a_base64url_p256_point_for_anyone(connect):
    key = connect().push.vapid_public_key()
    assert re.fullmatch(r"[A-Za-z0-9_-]{87}", key), key
    raw = base64.urlsafe_b64decode(key + "=")
    assert len(raw) == 65 and raw[0] == 4


def test_a_user_registers_subscribes_lists_and_unregisters_a_device(user, other):
    token = fcm_token()
    first = user.push.register_device(
        "fcm", token, topics=[NEWS], app_version="1.0.0", timezone="Europe/Paris"
    )
    assert first["platform"] == "fcm"
    assert first["token"] == token
    assert first["topics"] == [NEWS]
    assert first["app_version"] == "1.0.0"
    assert first["timezone"] == "Europe/Paris"
    assert first["active"] is True

    again = user.push.register_device("fcm", token, app_version="1.0.1", locale="de")
    assert again["id"] == first["id"]
    assert (again["app_version"], again["locale"]) == ("1.0.1", "de")
    assert again["topics"] == [NEWS], "topics left out are kept"

    assert user.push.subscribe(ALERTS) == {
        "topic": ALERTS,
        "devices": [first["id"]],
        "subscribed": True,
    }
    devices = user.push.list_devices()
    assert [(d["id"], d["topics"]) for d in devices] == [
        (first["id"], sorted([ALERTS, NEWS]))
    ]
    assert user.push.unsubscribe(ALERTS, devices=[first["id"]]) == {
        "topic": ALERTS,
        "devices": [first["id"]],
        "subscribed": False,
    }

    # Another user's device is not there for them.
    error = error_of(other.push.unregister_device, first["id"])
    assert (error.status, error.code) == (404, "device_not_found")
    assert other.push.list_devices() == []

    user.push.unregister_device(first["id"])
    assert user.push.list_devices() == []


def test_topic_rules_bad_tokens_and_anonymous_callers_are_refused(user, connect):
    error = error_of(user.push.subscribe, CLOSED)
    assert (error.status, error.code, error.param) == (403, "topic_forbidden", "topic")
    error = error_of(user.push.register_device, "fcm", fcm_token(), topics=[CLOSED])
    assert (error.status, error.code, error.param) == (
        403,
        "topic_forbidden",
        "topics.0",
    )
    error = error_of(user.push.register_device, "apns", "not hex")
    assert (error.status, error.code, error.param) == (400, "invalid_token", "token")
    assert error_of(connect().push.list_devices).status == 401


def test_a_web_push_subscription_on_an_allowed_host(user, settings):
    # The live server runs in this process: the setting applies to it.
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = [WEBPUSH_HOST]
    subscription = browser_subscription()
    device = user.push.register_device(
        "webpush", subscription=subscription, topics=[NEWS]
    )
    assert device["platform"] == "webpush"
    assert device["subscription"] == subscription
    assert "token" not in device
    assert (
        user.push.register_device("webpush", subscription=subscription)["id"]
        == (device["id"])
    )
    user.push.unregister_device(device["id"])

    elsewhere = {**browser_subscription(), "endpoint": "https://evil.example/x"}
    error = error_of(user.push.register_device, "webpush", subscription=elsewhere)
    assert (error.status, error.code, error.param) == (
        400,
        "endpoint_not_allowed",
        "subscription.endpoint",
    )


def test_a_key_sends_reads_the_status_schedules_and_cancels(user, sender):
    device = user.push.register_device("fcm", fcm_token(), topics=[NEWS])

    key = new_idempotency_key()
    message = {
        "to": {"topic": NEWS},
        "notification": {"title": "Match day", "body": "Kick-off at 20:00"},
        "data": {"match": "m_123"},
        "collapse_key": "match-m_123",
        "ttl": 3600,
        "priority": "normal",
    }
    sent = sender.push.send(**message, idempotency_key=key)
    assert sent["id"]
    assert sent["state"] in ("scheduled", "sending", "done")
    assert sent["to"] == {"topic": NEWS}
    assert (sent["collapse_key"], sent["ttl"], sent["priority"]) == (
        "match-m_123",
        3600,
        "normal",
    )
    # The same key again: the stored answer, not a second message.
    assert sender.push.send(**message, idempotency_key=key)["id"] == sent["id"]

    status = sender.push.status(sent["id"])
    assert status["id"] == sent["id"]
    assert status["state"] in ("scheduled", "sending", "done")
    assert set(status["counts"]) == COUNTED
    assert isinstance(status["results"]["items"], list)
    assert len(sender.push.status(sent["id"], limit=1)["results"]["items"]) <= 1

    later = sender.push.schedule(
        to={"topic": NEWS},
        notification={"title": "Later"},
        send_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    assert later["state"] == "scheduled"
    assert isinstance(later["send_at"], str)
    local = sender.push.schedule(
        to={"users": ["nobody"]}, data={"a": "b"}, send_at={"local": "09:00"}
    )
    assert local["send_at"] == {"local": "09:00"}

    cancelled = sender.push.cancel(later["id"])
    assert cancelled["state"] == "cancelled"
    assert sender.push.status(later["id"])["state"] == "cancelled"

    page = sender.push.list_messages(limit=50)
    assert isinstance(page, MessagePage)
    assert sent["id"] in [m["id"] for m in page.items]
    only = sender.push.list_messages(state="cancelled")
    assert [m["id"] for m in only.items] == [later["id"]]

    # The topic's device got it (whatever the unconfigured provider made of it): its user
    # may report it opened.
    opened = user.push.report_opened(sent["id"], device=device["id"])
    assert isinstance(opened["opened"], int)


def test_what_senders_may_not_do(user, other, sender, superuser_client):
    error = error_of(user.push.send, to={"topic": NEWS}, notification={"title": "x"})
    assert error.status == 403
    error = error_of(sender.push.send, to={"topic": NEWS})
    assert (error.status, error.param) == (400, "notification")
    error = error_of(
        sender.push.send, to={"topic": NEWS}, data={"a": "b"}, send_at="tomorrow"
    )
    assert (error.status, error.code, error.param) == (400, "invalid_time", "send_at")
    with pytest.raises(ValueError, match="time zone"):
        sender.push.schedule(
            to={"topic": NEWS}, data={"a": "b"}, send_at=datetime.now()
        )

    # A superuser sends too; a message that went out is not cancelled.
    sent = superuser_client.push.send(to={"topic": NEWS}, data={"a": "b"})
    error = error_of(superuser_client.push.cancel, sent["id"])
    assert (error.status, error.code) == (409, "already_sent")


def test_opens_of_a_message_that_did_not_reach_the_user_are_a_404(user, other, sender):
    user.push.register_device("fcm", fcm_token(), topics=[NEWS])
    sent = sender.push.send(to={"topic": NEWS}, notification={"title": "Hi"})
    error = error_of(other.push.report_opened, sent["id"])
    assert (error.status, error.code) == (404, "message_not_found")
    error = error_of(user.push.report_opened, "no-such-message")
    assert (error.status, error.code) == (404, "message_not_found")
