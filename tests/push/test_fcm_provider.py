"""The FCM provider against the fake FCM (a separate process speaking FCM HTTP v1 and
Google's OAuth token endpoint): real firebase-admin, google-auth and requests, no mocks.
"""

from __future__ import annotations

import email.utils
import json
import multiprocessing
import socket
import threading
import time

import httpx
import pytest

from apps.push.providers import fcm
from apps.push.providers.base import Outgoing, ProviderNotConfigured, Target
from tests.push.fakes import fcm as fcm_fake


def token(n: int) -> str:
    return f"fcm-registration-token-{n:05d}-abcdefghijklmnop"


def targets(count: int, start: int = 0) -> list[Target]:
    return [Target(delivery_id=n, token=token(n)) for n in range(start, start + count)]


@pytest.fixture(scope="module")
def fake():
    with fcm_fake.running() as handle:
        yield handle


@pytest.fixture(autouse=True)
def clean(fake):
    fake.reset()


@pytest.fixture
def provider(settings, fake):
    settings.BAAS_FCM_CREDENTIALS = fake.credentials()
    settings.BAAS_FCM_ENDPOINT = fake.url
    provider = fcm.from_settings()
    yield provider
    provider.close()


def test_a_sent_message_arrives_with_its_notification_data_and_platform_fields(
    provider, fake
):
    outgoing = Outgoing(
        message_id="m1",
        notification={
            "title": "Hello",
            "body": "World",
            "image": "https://example.com/a.png",
            "badge": 3,
            "sound": "ping.caf",
        },
        data={"order": "42", "kind": "shipped"},
        ttl=600,
        collapse_key="orders",
        priority="high",
    )
    before = int(time.time())

    [result] = provider.send(outgoing, [Target(7, token(7))])

    assert result.outcome == "sent"
    [received] = fake.received()
    assert result.provider_id == received["name"]
    assert received["name"].startswith("projects/baas-test/messages/")
    message = received["message"]
    assert message["token"] == token(7)
    assert message["notification"] == {
        "title": "Hello",
        "body": "World",
        "image": "https://example.com/a.png",
    }
    assert message["data"] == {"order": "42", "kind": "shipped"}
    assert message["android"] == {
        "priority": "HIGH",
        "ttl": "600s",
        "collapse_key": "orders",
        "notification": {"sound": "ping.caf"},
    }
    headers = message["apns"]["headers"]
    assert headers["apns-priority"] == "10"
    assert headers["apns-collapse-id"] == "orders"
    assert before + 600 <= int(headers["apns-expiration"]) <= int(time.time()) + 600
    assert message["apns"]["payload"] == {"aps": {"badge": 3, "sound": "ping.caf"}}


def test_a_normal_priority_message_is_normal_on_android_and_5_on_apns(provider, fake):
    outgoing = Outgoing("m2", data={"sync": "1"}, priority="normal")

    [result] = provider.send(outgoing, [Target(1, token(1))])

    assert result.outcome == "sent"
    message = fake.received()[0]["message"]
    assert message["android"] == {"priority": "NORMAL"}
    assert message["apns"] == {"headers": {"apns-priority": "5"}}
    assert "notification" not in message


def test_fcm_overrides_are_merged_over_the_message(provider, fake):
    outgoing = Outgoing(
        "m3",
        notification={"title": "T", "sound": "default", "badge": 1},
        ttl=60,
        overrides={
            "fcm": {
                "android": {"notification": {"channel_id": "alerts"}, "ttl": "5s"},
                "apns": {
                    "headers": {"apns-priority": None},
                    "payload": {"aps": {"category": "REPLY"}, "extra": "x"},
                },
                "fcm_options": {"analytics_label": "campaign"},
            },
            "apns": {"payload": {"ignored": True}},
        },
    )

    [result] = provider.send(outgoing, [Target(1, token(1))])

    assert result.outcome == "sent", result.reason
    message = fake.received()[0]["message"]
    assert message["android"]["notification"] == {
        "sound": "default",
        "channel_id": "alerts",
    }
    assert message["android"]["ttl"] == "5s"
    assert message["android"]["priority"] == "HIGH"
    assert "apns-priority" not in message["apns"]["headers"]
    assert "apns-expiration" in message["apns"]["headers"]
    assert message["apns"]["payload"] == {
        "aps": {"badge": 1, "sound": "default", "category": "REPLY"},
        "extra": "x",
    }
    assert message["fcm_options"] == {"analytics_label": "campaign"}


def test_an_unregistered_token_is_reported_invalid(provider, fake):
    fake.unregister(token(2))

    results = provider.send(Outgoing("m4", data={"a": "b"}), targets(3))

    by_id = {r.delivery_id: r for r in results}
    assert by_id[2].outcome == "invalid_token"
    assert by_id[2].reason.startswith("UNREGISTERED")
    assert by_id[0].outcome == by_id[1].outcome == "sent"
    assert sorted(r["token"] for r in fake.received()) == [token(0), token(1)]


@pytest.mark.parametrize("bad", ["has a space in it, so not a token", "short"])
def test_a_malformed_token_is_reported_invalid(provider, fake, bad):
    [result] = provider.send(Outgoing("m5", data={"a": "b"}), [Target(1, bad)])

    assert result.outcome == "invalid_token"
    assert "not a valid FCM registration token" in result.reason
    assert fake.received() == []


def test_a_too_large_payload_fails_with_the_providers_reason(provider, fake):
    outgoing = Outgoing("m6", notification={"title": "big"}, data={"blob": "x" * 4100})

    [result] = provider.send(outgoing, [Target(1, token(1))])

    assert result.outcome == "failed"
    assert result.reason == "INVALID_ARGUMENT: Android message is too big"
    assert fake.received() == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"android": {"ttl": "ten minutes"}}, "message.android.ttl"),
        ({"android": {"priority": "URGENT"}}, "message.android.priority"),
        ({"data": {"count": 3}}, "TYPE_STRING"),
        ({"topic": "news"}, "oneof field 'target' is already set"),
        ({"colour": "red"}, 'Unknown name "colour"'),
    ],
)
def test_a_message_fcm_would_refuse_fails_with_its_reason(
    provider, fake, overrides, expected
):
    outgoing = Outgoing("m7", data={"a": "b"}, overrides={"fcm": overrides})

    [result] = provider.send(outgoing, [Target(1, token(1))])

    assert result.outcome == "failed"
    assert result.reason.startswith("INVALID_ARGUMENT")
    assert expected in result.reason
    assert fake.received() == []


@pytest.mark.parametrize("seconds", [17, "date"])
def test_exceeded_quota_is_retried_after_the_providers_retry_after(
    provider, fake, seconds
):
    if seconds == "date":
        header = email.utils.formatdate(time.time() + 120, usegmt=True)
    else:
        header = seconds
    fake.quota(count=2, retry_after=header)

    results = provider.send(Outgoing("m8", data={"a": "b"}), targets(3))

    retried = [r for r in results if r.outcome == "retry"]
    assert len(retried) == 2
    assert all(r.reason.startswith("QUOTA_EXCEEDED") for r in retried)
    for result in retried:
        if seconds == "date":
            assert 110 <= result.retry_after <= 121
        else:
            assert result.retry_after == 17
    assert [r.outcome for r in results].count("sent") == 1


def test_an_unavailable_fcm_is_retried_without_firebase_admin_waiting(provider, fake):
    fake.unavailable(count=1)
    started = time.monotonic()

    [result] = provider.send(Outgoing("m9", data={"a": "b"}), [Target(1, token(1))])

    # firebase-admin's own policy would have tried again (after a backoff) and the
    # fake's second answer would have been a success
    assert result.outcome == "retry"
    assert result.reason.startswith("UNAVAILABLE")
    assert result.retry_after is None
    assert time.monotonic() - started < 2
    assert fake.stats()["received"] == 0


def test_a_503_with_retry_after_is_not_slept_on(provider, fake):
    fake.unavailable(count=1, retry_after=300)
    started = time.monotonic()

    [result] = provider.send(Outgoing("m10", data={"a": "b"}), [Target(1, token(1))])

    assert result.outcome == "retry"
    assert result.retry_after == 300
    assert time.monotonic() - started < 2


def test_an_unreachable_fcm_endpoint_means_retry(settings, fake):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.BAAS_FCM_CREDENTIALS = fake.credentials()
    settings.BAAS_FCM_ENDPOINT = f"http://127.0.0.1:{closed_port}"
    provider = fcm.from_settings()
    try:
        results = provider.send(Outgoing("m11", data={"a": "b"}), targets(2))
    finally:
        provider.close()

    assert [r.outcome for r in results] == ["retry", "retry"]
    assert all(r.reason.startswith("UNAVAILABLE") for r in results)


def test_a_key_the_token_endpoint_does_not_know_fails_every_target_and_sends_nothing(
    settings, fake
):
    # A refused key is a configuration error: retrying the deliveries cannot succeed
    # until an operator changes the credentials, so they fail with the reason.
    settings.BAAS_FCM_CREDENTIALS = fake.foreign_credentials()
    settings.BAAS_FCM_ENDPOINT = fake.url
    provider = fcm.from_settings()
    try:
        results = provider.send(Outgoing("m12", data={"a": "b"}), targets(5))
    finally:
        provider.close()

    assert [r.outcome for r in results] == ["failed"] * 5
    assert all("invalid_grant" in r.reason for r in results)
    assert all("Invalid JWT Signature" in r.reason for r in results)
    stats = fake.stats()
    assert stats["received"] == 0
    assert stats["token_requests"] == 1  # once for the batch, not once per target


def test_missing_credentials_raise_provider_not_configured(settings):
    settings.BAAS_FCM_CREDENTIALS = ""

    with pytest.raises(ProviderNotConfigured, match="BAAS_FCM_CREDENTIALS"):
        fcm.from_settings()


def test_credentials_that_are_not_a_service_account_raise_provider_not_configured(
    settings, tmp_path
):
    settings.BAAS_FCM_CREDENTIALS = str(tmp_path / "missing.json")
    with pytest.raises(ProviderNotConfigured, match="BAAS_FCM_CREDENTIALS"):
        fcm.from_settings()

    settings.BAAS_FCM_CREDENTIALS = json.dumps({"type": "authorized_user"})
    with pytest.raises(ProviderNotConfigured, match="BAAS_FCM_CREDENTIALS"):
        fcm.from_settings()


def test_credentials_can_be_the_path_of_the_json_file(settings, fake, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(fake.credentials())
    settings.BAAS_FCM_CREDENTIALS = str(path)
    settings.BAAS_FCM_ENDPOINT = fake.url
    provider = fcm.from_settings()
    try:
        [result] = provider.send(Outgoing("m13", data={"a": "b"}), targets(1))
    finally:
        provider.close()

    assert result.outcome == "sent"


def test_a_batch_of_500_is_sent_in_one_call(provider, fake):
    batch = targets(500)

    results = provider.send(Outgoing("m14", notification={"title": "All"}), batch)

    assert sorted(r.delivery_id for r in results) == list(range(500))
    assert {r.outcome for r in results} == {"sent"}
    assert len({r.provider_id for r in results}) == 500
    stats = fake.stats()
    assert stats["received"] == 500
    assert stats["by_token_max"] == 1
    assert stats["token_requests"] <= 1  # the access token is fetched once, and kept


def test_no_targets_send_nothing(provider, fake):
    assert provider.send(Outgoing("m15", data={"a": "b"}), []) == []
    assert fake.stats()["received"] == 0


def test_a_revoked_access_token_is_refreshed_and_the_send_goes_through(provider, fake):
    provider.send(Outgoing("m16", data={"a": "b"}), targets(1))
    fake.revoke_tokens()

    [result] = provider.send(Outgoing("m17", data={"a": "b"}), targets(1, start=1))

    assert result.outcome == "sent"
    assert [r["token"] for r in fake.received()] == [token(0), token(1)]


def test_a_held_send_counts_as_received_before_it_is_answered(provider, fake):
    fake.hold(True)
    results = []
    sender = threading.Thread(
        target=lambda: results.extend(
            provider.send(Outgoing("m18", data={"a": "b"}), targets(2))
        )
    )
    sender.start()
    deadline = time.monotonic() + 5
    while fake.stats()["received"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert fake.stats()["received"] == 2
    assert results == []
    fake.hold(False)
    sender.join(5)
    assert [r.outcome for r in results] == ["sent", "sent"]


def test_a_forked_worker_process_sends_with_an_app_and_connections_of_its_own(
    provider, fake
):
    provider.send(Outgoing("m19", data={"a": "b"}), targets(1))  # the parent's
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()

    def child() -> None:
        results = provider.send(Outgoing("m20", data={"a": "b"}), targets(2, start=1))
        child_end.send([(r.outcome, r.reason) for r in results])
        provider.close()

    worker = context.Process(target=child)
    worker.start()
    assert parent_end.poll(10)
    assert parent_end.recv() == [("sent", ""), ("sent", "")]
    worker.join(10)
    assert worker.exitcode == 0
    [result] = provider.send(Outgoing("m21", data={"a": "b"}), targets(1, start=3))
    assert result.outcome == "sent"
    assert fake.stats()["received"] == 4


def test_the_fake_also_speaks_http2_cleartext(fake):
    with httpx.Client(http1=False, http2=True) as client:
        response = client.get(f"{fake.url}/_fake/stats")

    assert response.http_version == "HTTP/2"
    assert response.json()["received"] == 0
