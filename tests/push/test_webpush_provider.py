"""The Web Push provider against a local push service (tests.push.fakes.webpush) that
checks VAPID and decrypts each payload as the browser would."""

from __future__ import annotations

import base64
import email.utils
import json
import multiprocessing
import socket
import threading
import time

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher

from apps.push import vapid
from apps.push.providers import webpush
from apps.push.providers.base import Outgoing, ProviderNotConfigured, Target
from tests.push.fakes.webpush import running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fake():
    with running() as handle:
        yield handle


@pytest.fixture
def configured(settings, fake, tmp_path):
    """Settings pointing at the fake: its host allowed, VAPID keys in a temp dir."""
    fake.reset()
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = [fake.host]
    settings.BAAS_PUSH_DIR = tmp_path / "push"
    settings.BAAS_VAPID_PRIVATE_KEY = ""
    settings.BAAS_VAPID_SUBJECT = "mailto:ops@example.com"
    return settings


@pytest.fixture
def provider(configured):
    provider = webpush.from_settings()
    yield provider
    provider.close()


def target(subscription: dict, delivery_id: int = 1) -> Target:
    return Target(delivery_id, subscription["endpoint"], subscription["keys"])


def message(**fields) -> Outgoing:
    fields.setdefault("message_id", "msg-1")
    fields.setdefault("notification", {"title": "Hello", "body": "World"})
    return Outgoing(**fields)


def public_point(key: ec.EllipticCurvePrivateKey) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_message_arrives_decrypted_with_its_headers(provider, fake):
    subscription = fake.subscribe()
    outgoing = message(
        notification={"title": "Hello", "body": "World", "image": "https://x/i.png"},
        data={"order": "42"},
        ttl=3600,
        priority="normal",
        collapse_key="order-42",
    )
    [result] = provider.send(outgoing, [target(subscription, 7)])
    assert (result.delivery_id, result.outcome, result.reason) == (7, "sent", "")
    assert result.provider_id.startswith(f"{fake.url}/m/")
    [received] = fake.received()
    assert received["subscription"] == fake.subscription_id(subscription)
    assert received["payload"] == {
        "title": "Hello",
        "body": "World",
        "image": "https://x/i.png",
        "data": {"order": "42"},
        "message_id": "msg-1",
    }
    assert received["headers"] == {
        "ttl": 3600,
        "urgency": "normal",
        "topic": "order-42",
    }


def test_without_ttl_the_message_is_kept_four_weeks_and_high_is_urgent(provider, fake):
    provider.send(message(), [target(fake.subscribe())])
    [received] = fake.received()
    assert received["headers"] == {"ttl": 2419200, "urgency": "high", "topic": None}
    assert received["payload"] == {
        "title": "Hello",
        "body": "World",
        "data": {},
        "message_id": "msg-1",
    }


def test_a_collapse_key_that_is_no_valid_topic_is_hashed_into_one(provider, fake):
    key = "news: the daily digest for everybody, in full"
    [result] = provider.send(message(collapse_key=key), [target(fake.subscribe())])
    assert result.outcome == "sent"
    topic = fake.received()[0]["headers"]["topic"]
    assert len(topic) == 32 and topic == webpush.topic(key) != key[:32]


def test_overrides_deep_merge_into_the_payload_and_add_headers(provider, fake):
    outgoing = message(
        data={"a": "1"},
        overrides={
            "webpush": {
                "payload": {"data": {"b": "2"}, "icon": "/icon.png", "title": "Hi"},
                "headers": {"Urgency": "low", "Authorization": "Bearer nope"},
            },
            "fcm": {"android": {"priority": "high"}},
        },
    )
    [result] = provider.send(outgoing, [target(fake.subscribe())])
    assert result.outcome == "sent"  # the override cannot replace the VAPID header
    [received] = fake.received()
    assert received["payload"] == {
        "title": "Hi",
        "body": "World",
        "data": {"a": "1", "b": "2"},
        "icon": "/icon.png",
        "message_id": "msg-1",
    }
    assert received["headers"]["urgency"] == "low"


def test_a_subscription_made_for_our_key_accepts_our_vapid_signature(provider, fake):
    subscription = fake.subscribe(application_server_key=vapid.keys().public_key)
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "sent"


def test_the_push_service_refuses_a_vapid_key_other_than_the_subscriptions(
    provider, fake
):
    other = public_point(ec.generate_private_key(ec.SECP256R1()))
    subscription = fake.subscribe(application_server_key=other)
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "failed"
    assert result.reason.startswith("403 ")
    assert "applicationServerKey" in result.reason
    assert fake.received() == []


def test_a_configured_key_is_used_to_sign(configured, fake):
    key = ec.generate_private_key(ec.SECP256R1())
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    configured.BAAS_VAPID_PRIVATE_KEY = base64.urlsafe_b64encode(raw).decode()
    provider = webpush.from_settings()
    try:
        subscription = fake.subscribe(application_server_key=public_point(key))
        [result] = provider.send(message(), [target(subscription)])
    finally:
        provider.close()
    assert result.outcome == "sent"
    assert not (configured.BAAS_PUSH_DIR / "vapid_private.pem").exists()


def test_an_expired_subscription_is_reported_invalid(provider, fake):
    subscription = fake.subscribe()
    fake.expire(fake.subscription_id(subscription))
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "invalid_token"
    assert result.reason.startswith("410 ")


def test_an_unknown_subscription_is_reported_invalid(provider, fake):
    subscription = fake.subscribe()
    gone = {**subscription, "endpoint": f"{fake.url}/push/no-such-subscription"}
    [result] = provider.send(message(), [target(gone)])
    assert result.outcome == "invalid_token"


def test_a_quota_429_is_retried_after_what_the_service_says(provider, fake):
    first, second = fake.subscribe(count=2)
    fake.quota(1, retry_after=120)
    results = provider.send(message(), [target(first, 1), target(second, 2)])
    outcomes = sorted((r.outcome, r.retry_after) for r in results)
    assert outcomes == [("retry", 120.0), ("sent", None)]
    assert [r.reason for r in results if r.outcome == "retry"][0].startswith("429 ")


def test_an_unavailable_service_is_retried_with_an_http_date_retry_after(
    provider, fake
):
    subscription = fake.subscribe()
    fake.unavailable(retry_after=email.utils.formatdate(time.time() + 60, usegmt=True))
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "retry" and result.reason.startswith("503 ")
    assert 55 <= result.retry_after <= 61
    fake.unavailable(on=False)
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "sent"


def test_a_payload_too_large_fails_without_a_request(provider, fake):
    subscription = fake.subscribe()
    [result] = provider.send(message(data={"blob": "x" * 4000}), [target(subscription)])
    assert result.outcome == "failed" and "payload too large" in result.reason
    assert fake.stats()["arrived"] == 0


def test_the_largest_payload_that_fits_is_sent(provider, fake):
    # The JSON is compact; aes128gcm adds 103 bytes (header 86, padding 1, tag 16).
    empty = json.dumps({"data": {"blob": ""}, "message_id": "msg-1"}, separators=",:")
    room = 4096 - 103 - len(empty)
    outgoing = message(notification={}, data={"blob": "x" * room})
    [result] = provider.send(outgoing, [target(fake.subscribe())])
    assert result.outcome == "sent"
    outgoing = message(notification={}, data={"blob": "x" * (room + 1)})
    [result] = provider.send(outgoing, [target(fake.subscribe())])
    assert result.outcome == "failed"


def test_an_endpoint_no_longer_allowed_fails_and_is_never_contacted(
    provider, fake, configured
):
    allowed, refused = fake.subscribe(count=2)
    configured.BAAS_WEBPUSH_ALLOWED_HOSTS = ["fcm.googleapis.com"]
    [result] = provider.send(message(), [target(refused, 2)])
    assert (result.outcome, result.reason) == ("failed", "endpoint host not allowed")
    assert fake.stats()["arrived"] == 0
    configured.BAAS_WEBPUSH_ALLOWED_HOSTS = [fake.host]
    elsewhere = {**refused, "endpoint": "http://169.254.169.254/push/x"}
    results = provider.send(message(), [target(allowed, 1), target(elsewhere, 2)])
    assert sorted((r.delivery_id, r.outcome) for r in results) == [
        (1, "sent"),
        (2, "failed"),
    ]
    assert fake.stats()["arrived"] == 1


def test_a_redirect_is_not_followed(provider, fake):
    first, second = fake.subscribe(count=2)
    fake.redirect(second["endpoint"])
    [result] = provider.send(message(), [target(first)])
    assert result.outcome == "failed" and result.reason.startswith(
        "push service answered 307"
    )
    assert fake.stats()["arrived"] == 1
    assert fake.received() == []


def test_a_refused_connection_is_retried(provider, configured):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configured.BAAS_WEBPUSH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    subscription = {
        "endpoint": f"http://127.0.0.1:{port}/push/x",
        "keys": {
            "p256dh": public_point(ec.generate_private_key(ec.SECP256R1())),
            "auth": "AAAAAAAAAAAAAAAAAAAAAA",
        },
    }
    [result] = provider.send(message(), [target(subscription)])
    assert result.outcome == "retry" and result.reason.startswith("network error")


def test_a_push_service_that_does_not_answer_in_time_is_retried(configured, fake):
    provider = webpush.WebPushProvider(
        vapid.keys().private_key, "mailto:ops@example.com", timeout=0.3
    )
    fake.hold()
    try:
        [result] = provider.send(message(), [target(fake.subscribe())])
    finally:
        fake.hold(False)
        provider.close()
    assert result.outcome == "retry" and "Timeout" in result.reason


def test_broken_subscription_keys_fail_that_target_only(provider, fake):
    good = fake.subscribe()
    no_auth = {**good, "keys": {"p256dh": good["keys"]["p256dh"]}}
    not_a_point = {**good, "keys": {**good["keys"], "p256dh": "A" * 87}}
    results = provider.send(
        message(),
        [target(no_auth, 1), target(not_a_point, 2), target(good, 3)],
    )
    assert sorted((r.delivery_id, r.outcome) for r in results) == [
        (1, "failed"),
        (2, "failed"),
        (3, "sent"),
    ]


def test_a_batch_is_sent_concurrently(provider, fake):
    subscriptions = fake.subscribe(count=20)
    fake.hold()
    results: list = []
    sender = threading.Thread(
        target=lambda: results.extend(
            provider.send(
                message(), [target(s, i) for i, s in enumerate(subscriptions)]
            )
        )
    )
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while fake.stats()["waiting"] < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.stats()["waiting"] == 20  # all 20 in flight at once
    finally:
        fake.hold(False)
        sender.join(10)
    assert sorted(r.delivery_id for r in results) == list(range(20))
    assert {r.outcome for r in results} == {"sent"}


def _send_in_child(provider, subscription, queue) -> None:
    [result] = provider.send(message(), [target(subscription)])
    queue.put(result.outcome)


def test_a_forked_worker_sends_on_its_own_connections(provider, fake):
    first, second = fake.subscribe(count=2)
    assert provider.send(message(), [target(first)])[0].outcome == "sent"
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_send_in_child, args=(provider, second, queue))
    child.start()
    assert queue.get(timeout=20) == "sent"
    child.join(10)
    assert provider.send(message(), [target(first)])[0].outcome == "sent"
    assert fake.stats()["accepted"] == 3


@pytest.mark.parametrize("subject", ["", "admin", "http://example.com"])
def test_a_missing_or_invalid_subject_is_not_configured(configured, subject):
    configured.BAAS_VAPID_SUBJECT = subject
    with pytest.raises(ProviderNotConfigured, match="BAAS_VAPID_SUBJECT"):
        webpush.from_settings()


def test_an_empty_batch_sends_nothing(provider, fake):
    assert provider.send(message(), []) == []
    assert fake.stats()["arrived"] == 0


def test_throughput_of_four_batches_of_500(provider, fake):
    subscriptions = fake.subscribe(count=2000)
    outgoing = message(data={"kind": "benchmark"}, collapse_key="bench")
    provider.send(outgoing, [target(subscriptions[0])])  # connect, sign VAPID
    fake.reset()
    subscriptions = fake.subscribe(count=2000)
    started = time.perf_counter()
    outcomes = []
    for batch in range(4):
        chunk = subscriptions[batch * 500 : (batch + 1) * 500]
        results = provider.send(outgoing, [target(s, i) for i, s in enumerate(chunk)])
        outcomes.extend(r.outcome for r in results)
    elapsed = time.perf_counter() - started
    stats = fake.stats()
    print(
        f"\nwebpush: 2000 sends in {elapsed:.2f}s = {2000 / elapsed:.0f} sends/s "
        f"over {stats['connections']} connections"
    )
    assert outcomes == ["sent"] * 2000
    assert stats["accepted"] == 2000
    assert stats["connections"] <= webpush.CONCURRENCY  # reused across batches


def test_closing_while_a_batch_is_in_flight_hands_it_back_for_retry(configured, fake):
    provider = webpush.from_settings()
    subscription = fake.subscribe()
    fake.hold()
    results: list = []
    sender = threading.Thread(
        target=lambda: results.extend(provider.send(message(), [target(subscription)]))
    )
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while fake.stats()["waiting"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        provider.close()
        sender.join(10)
    finally:
        fake.hold(False)
    assert [r.outcome for r in results] == ["retry"]


# --- the stand-in push service is as strict as a real one ---------------------------


def signed(fake, key: ec.EllipticCurvePrivateKey, **claims) -> str:
    claims = {"aud": fake.url, "sub": "mailto:ops@example.com", **claims}
    claims.setdefault("exp", int(time.time()) + 3600)
    return Vapid02(key).sign(claims)["Authorization"]


def push(fake, subscription: dict, authorization: str | None, **options):
    """Post an encrypted "hi" straight to the fake, as pywebpush would."""
    headers = {"TTL": "60"}
    if authorization is not None:
        headers["Authorization"] = authorization
    headers.update(options.pop("headers", {}))
    return WebPusher(subscription).send("hi", headers, **options)


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "http://127.0.0.1:1"},
        {"exp": int(time.time()) - 10},
        {"exp": int(time.time()) + 25 * 3600},
        {"sub": "https://example.com"},
    ],
)
def test_the_fake_accepts_only_good_vapid_claims(fake, claims):
    fake.reset()
    subscription = fake.subscribe()
    key = ec.generate_private_key(ec.SECP256R1())
    assert push(fake, subscription, signed(fake, key)).status_code == 201
    refused = push(fake, subscription, signed(fake, key, **claims))
    if claims.get("sub", "").startswith("https:"):
        assert refused.status_code == 201  # mailto: and https: are both fine
    else:
        assert refused.status_code == 401, refused.text


def test_the_fake_refuses_what_a_push_service_refuses(fake):
    fake.reset()
    subscription = fake.subscribe()
    key = ec.generate_private_key(ec.SECP256R1())
    good = signed(fake, key)
    other_key = signed(fake, ec.generate_private_key(ec.SECP256R1()))
    forged = good.split(",k=")[0] + ",k=" + other_key.split(",k=")[1]
    assert push(fake, subscription, None).status_code == 401
    assert push(fake, subscription, forged).status_code == 401
    assert push(fake, subscription, "WebPush " + good.split("t=")[1]).status_code == 401
    aesgcm = push(fake, subscription, good, content_encoding="aesgcm")
    assert aesgcm.status_code == 415
    endpoint = subscription["endpoint"]
    base = {"Authorization": good, "Content-Encoding": "aes128gcm"}
    no_ttl = requests.post(endpoint, data=b"x" * 100, headers=base)
    assert no_ttl.status_code == 400
    garbage = requests.post(endpoint, data=b"x" * 100, headers={**base, "TTL": "0"})
    assert garbage.status_code == 400 and "decrypt" in garbage.text
    large = requests.post(endpoint, data=b"x" * 4097, headers={**base, "TTL": "0"})
    assert large.status_code == 413
    assert fake.received() == []
