"""The APNs provider against a local APNs (tests.push.fakes.apns) that speaks HTTP/2
cleartext and checks the provider token, topic, headers and payload as Apple does."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.push.providers import apns
from apps.push.providers.base import Outgoing, ProviderNotConfigured, Target
from tests.push.fakes.apns import Handle, running

pytestmark = pytest.mark.slow

KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "com.example.app"


def write_key(path: Path) -> Path:
    """A fresh EC P-256 key in a .p8 file (PKCS#8 PEM), as Apple hands them out."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> SimpleNamespace:
    """The key the fake trusts, and another one it does not."""
    folder = tmp_path_factory.mktemp("apns")
    return SimpleNamespace(
        good=write_key(folder / f"AuthKey_{KEY_ID}.p8"),
        wrong=write_key(folder / "AuthKey_wrong.p8"),
    )


@pytest.fixture(scope="module")
def fake(keys) -> Iterator[Handle]:
    with running(
        key_file=keys.good, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC
    ) as handle:
        yield handle


@pytest.fixture
def configured(settings, fake, keys):
    """Settings pointing at the fake, with the key it trusts."""
    fake.reset()
    settings.BAAS_APNS_KEY_FILE = str(keys.good)
    settings.BAAS_APNS_KEY_ID = KEY_ID
    settings.BAAS_APNS_TEAM_ID = TEAM_ID
    settings.BAAS_APNS_TOPIC = TOPIC
    settings.BAAS_APNS_ENDPOINT = fake.url
    return settings


@pytest.fixture
def provider(configured) -> Iterator[apns.ApnsProvider]:
    provider = apns.from_settings()
    yield provider
    provider.close()


def device(n: int) -> str:
    """A well-formed device token (32 bytes, hex)."""
    return f"{n:064x}"


def targets(count: int, start: int = 0) -> list[Target]:
    return [Target(start + n, device(start + n)) for n in range(count)]


def message(**fields) -> Outgoing:
    fields.setdefault("message_id", "msg-1")
    fields.setdefault("notification", {"title": "Hello", "body": "World"})
    return Outgoing(**fields)


def outcomes(results) -> set[str]:
    return {result.outcome for result in results}


def test_an_empty_batch_sends_nothing(provider, fake):
    assert provider.send(message(), []) == []
    assert fake.stats()["requests"] == 0


def test_malformed_overrides_fail_the_message_without_raising(provider, fake):
    outgoing = message(overrides={"apns": {"headers": ["not", "a", "dict"]}})
    [result] = provider.send(outgoing, targets(1))
    assert result.outcome == "failed" and result.reason.startswith("BadMessage")
    assert fake.stats()["requests"] == 0


def test_the_fake_refuses_pushes_over_http1_as_apns_does(fake, provider):
    response = fake.http.post(f"{fake.url}/3/device/{device(1)}", data=b"{}")
    assert (response.status_code, response.json()) == (505, {"reason": "HTTP2Required"})
    assert response.headers["apns-id"]


def test_alert_fields_badge_sound_and_data_make_the_payload(provider, fake):
    outgoing = message(
        notification={"title": "Hello", "body": "World", "badge": 3, "sound": "ping"},
        data={"order": "42", "kind": "shipping"},
    )
    [result] = provider.send(outgoing, [Target(7, device(1))])
    assert (result.delivery_id, result.outcome, result.reason) == (7, "sent", "")
    [received] = fake.received()
    assert received["token"] == device(1)
    assert received["payload"] == {
        "aps": {
            "alert": {"title": "Hello", "body": "World"},
            "badge": 3,
            "sound": "ping",
        },
        "order": "42",
        "kind": "shipping",
    }
    assert received["headers"]["apns-topic"] == TOPIC
    assert received["headers"]["apns-push-type"] == "alert"
    assert received["headers"]["apns-priority"] == "10"
    assert "apns-expiration" not in received["headers"]
    assert "apns-collapse-id" not in received["headers"]


def test_priority_collapse_id_and_expiration_become_headers(provider, fake):
    outgoing = message(priority="normal", collapse_key="score-update", ttl=3600)
    before = int(time.time())
    provider.send(outgoing, [Target(1, device(1))])
    provider.send(message(ttl=0), [Target(2, device(2))])
    first, second = fake.received()
    assert first["headers"]["apns-priority"] == "5"
    assert first["headers"]["apns-collapse-id"] == "score-update"
    expiration = int(first["headers"]["apns-expiration"])
    assert before + 3600 <= expiration <= int(time.time()) + 3600
    assert second["headers"]["apns-expiration"] == "0"  # deliver now or never


def test_a_collapse_key_over_64_bytes_becomes_its_digest(provider, fake):
    long_key = "k" * 65
    results = provider.send(message(collapse_key=long_key), targets(2))
    assert outcomes(results) == {"sent"}
    first, second = fake.received()
    collapse_id = first["headers"]["apns-collapse-id"]
    assert len(collapse_id) == 64 and collapse_id != long_key[:64]
    assert second["headers"]["apns-collapse-id"] == collapse_id


def test_a_message_without_notification_is_a_silent_background_push(provider, fake):
    outgoing = message(notification={}, data={"sync": "inbox"}, priority="high")
    [result] = provider.send(outgoing, [Target(1, device(1))])
    assert result.outcome == "sent"
    [received] = fake.received()
    assert received["payload"] == {"aps": {"content-available": 1}, "sync": "inbox"}
    assert received["headers"]["apns-push-type"] == "background"
    assert received["headers"]["apns-priority"] == "5"  # Apple's rule for background


def test_an_image_asks_the_app_extension_to_fetch_it(provider, fake):
    outgoing = message(
        notification={"title": "New photo", "image": "https://cdn.example/p.jpg"}
    )
    provider.send(outgoing, [Target(1, device(1))])
    [received] = fake.received()
    assert received["payload"]["aps"]["mutable-content"] == 1
    assert received["payload"]["image"] == "https://cdn.example/p.jpg"


def test_apns_overrides_are_merged_into_headers_and_payload(provider, fake):
    outgoing = message(
        notification={"title": "Hello", "body": "World", "sound": "ping"},
        overrides={
            "apns": {
                "headers": {"apns-priority": "5", "apns-expiration": 1},
                "payload": {
                    "aps": {"alert": {"subtitle": "Sub"}, "sound": None},
                    "thread": "t1",
                },
            }
        },
    )
    [result] = provider.send(outgoing, [Target(1, device(1))])
    assert result.outcome == "sent"
    [received] = fake.received()
    assert received["payload"] == {
        "aps": {"alert": {"title": "Hello", "body": "World", "subtitle": "Sub"}},
        "thread": "t1",
    }
    assert received["headers"]["apns-priority"] == "5"
    assert received["headers"]["apns-expiration"] == "1"


def test_the_apns_id_is_the_same_when_a_delivery_is_sent_again(provider, fake):
    [first] = provider.send(message(message_id="m-9"), [Target(5, device(1))])
    [again] = provider.send(message(message_id="m-9"), [Target(5, device(1))])
    [other] = provider.send(message(message_id="m-9"), [Target(6, device(2))])
    assert first.provider_id == again.provider_id != other.provider_id
    assert uuid.UUID(first.provider_id).version == 5
    assert [r["headers"]["apns-id"] for r in fake.received()] == [
        first.provider_id,
        again.provider_id,
        other.provider_id,
    ]


def test_a_batch_of_200_goes_over_one_http2_connection_and_so_does_the_next(
    provider, fake
):
    first = provider.send(message(), targets(200))
    assert outcomes(first) == {"sent"} and len(first) == 200
    assert fake.stats()["connections"] == 1
    second = provider.send(message(message_id="msg-2"), targets(200, start=200))
    assert outcomes(second) == {"sent"}
    stats = fake.stats()
    assert (stats["received"], stats["by_token_max"], stats["connections"]) == (
        400,
        1,
        1,
    )
    assert stats["provider_tokens"] == 1  # one provider token, reused


def test_an_unregistered_token_is_reported_invalid(provider, fake):
    fake.unregister(device(2))
    results = provider.send(message(), targets(3, start=1))
    by_id = {result.delivery_id: result for result in results}
    assert (by_id[2].outcome, by_id[2].reason) == ("invalid_token", "Unregistered")
    assert by_id[1].outcome == by_id[3].outcome == "sent"
    assert [r["token"] for r in fake.received()] == [device(1), device(3)]


def test_a_malformed_token_is_reported_invalid(provider, fake):
    results = provider.send(
        message(),
        [Target(1, "abcd" * 10), Target(2, "not a token/../x"), Target(3, device(3))],
    )
    by_id = {result.delivery_id: result for result in results}
    # too short: APNs says so; not hex at all: never sent
    assert (by_id[1].outcome, by_id[1].reason) == ("invalid_token", "BadDeviceToken")
    assert (by_id[2].outcome, by_id[2].reason) == ("invalid_token", "BadDeviceToken")
    assert by_id[3].outcome == "sent"
    assert fake.stats()["requests"] == 2


def test_a_payload_over_4096_bytes_fails_without_a_request(provider, fake):
    outgoing = message(data={"blob": "x" * 4100})
    results = provider.send(outgoing, targets(3))
    assert {(r.outcome, r.reason) for r in results} == {("failed", "PayloadTooLarge")}
    assert len(results) == 3
    assert fake.stats()["requests"] == 0


def test_a_payload_apns_refuses_fails_with_apples_reason(provider, fake):
    # the fake itself refuses what the provider would not send: check it does
    outgoing = message(overrides={"apns": {"headers": {"apns-priority": "7"}}})
    [result] = provider.send(outgoing, [Target(1, device(1))])
    assert (result.outcome, result.reason) == ("failed", "BadPriority")
    wrong_topic = message(overrides={"apns": {"headers": {"apns-topic": "com.other"}}})
    [result] = provider.send(wrong_topic, [Target(1, device(1))])
    assert (result.outcome, result.reason) == (
        "invalid_token",
        "DeviceTokenNotForTopic",
    )
    assert fake.received() == []


def test_too_many_requests_means_retry_after_the_given_delay(provider, fake):
    fake.quota(2, retry_after=120)
    results = provider.send(message(), targets(5))
    retried = [r for r in results if r.outcome == "retry"]
    assert len(retried) == 2
    assert {(r.reason, r.retry_after) for r in retried} == {("TooManyRequests", 120)}
    assert len(fake.received()) == 3


def test_an_unavailable_service_means_retry(provider, fake):
    fake.unavailable(retry_after=30)
    results = provider.send(message(), targets(3))
    assert {(r.outcome, r.reason, r.retry_after) for r in results} == {
        ("retry", "ServiceUnavailable", 30)
    }
    fake.unavailable(False)
    assert outcomes(provider.send(message(), targets(3))) == {"sent"}


def test_an_unreachable_server_means_retry(configured):
    with socket.socket() as unused:  # bound, never listening: connections refused
        unused.bind(("127.0.0.1", 0))
        configured.BAAS_APNS_ENDPOINT = f"http://127.0.0.1:{unused.getsockname()[1]}"
        provider = apns.from_settings()
        try:
            results = provider.send(message(), targets(3))
        finally:
            provider.close()
    assert outcomes(results) == {"retry"}
    assert all(r.reason.startswith("ConnectError") for r in results)


def test_a_send_not_answered_in_time_is_retried(configured, fake, keys):
    provider = apns.ApnsProvider(
        key_pem=keys.good.read_bytes(),
        key_id=KEY_ID,
        team_id=TEAM_ID,
        topic=TOPIC,
        endpoint=fake.url,
        timeout=0.3,
    )
    fake.hold()
    try:
        results = provider.send(message(), targets(2))
    finally:
        fake.hold(False)
    assert outcomes(results) == {"retry"}
    assert len(fake.received()) == 2  # it may have arrived: a retry resends it
    assert outcomes(provider.send(message(), targets(2, start=2))) == {"sent"}
    provider.close()


def test_an_expired_provider_token_is_renewed_once_and_the_send_succeeds(
    provider, fake
):
    provider.send(message(), targets(1))  # the provider has a token
    fake.reset()
    fake.expire_tokens(1)
    results = provider.send(message(), targets(50, start=10))
    assert outcomes(results) == {"sent"}
    stats = fake.stats()
    assert stats["provider_tokens"] == 2  # the expired one, one new one for all 50
    assert (stats["received"], stats["by_token_max"]) == (50, 1)


def test_a_token_older_than_50_minutes_is_replaced_and_a_newer_one_reused(
    configured, fake, keys
):
    now = [time.time() - 55 * 60]
    provider = apns.ApnsProvider(
        key_pem=keys.good.read_bytes(),
        key_id=KEY_ID,
        team_id=TEAM_ID,
        topic=TOPIC,
        endpoint=fake.url,
        clock=lambda: now[0],
    )
    try:
        provider.send(message(), targets(1))
        now[0] = time.time()  # 55 minutes later
        provider.send(message(), targets(1, start=1))
        now[0] += 10 * 60
        provider.send(message(), targets(1, start=2))
    finally:
        provider.close()
    assert fake.stats()["provider_tokens"] == 2
    assert len(fake.received()) == 3


def test_a_token_apple_finds_too_old_fails_after_one_renewal(configured, fake, keys):
    provider = apns.ApnsProvider(
        key_pem=keys.good.read_bytes(),
        key_id=KEY_ID,
        team_id=TEAM_ID,
        topic=TOPIC,
        endpoint=fake.url,
        clock=lambda: time.time() - 65 * 60,  # a clock an hour behind
    )
    try:
        [result] = provider.send(message(), targets(1))
    finally:
        provider.close()
    assert (result.outcome, result.reason) == ("failed", "ExpiredProviderToken")
    assert fake.stats()["requests"] == 2


def test_a_wrong_key_fails_as_invalid_provider_token(configured, fake, keys):
    configured.BAAS_APNS_KEY_FILE = str(keys.wrong)
    provider = apns.from_settings()
    try:
        results = provider.send(message(), targets(3))
    finally:
        provider.close()
    assert {(r.outcome, r.reason) for r in results} == {
        ("failed", "InvalidProviderToken")
    }
    assert fake.stats()["requests"] == 6  # each tried again with a new token
    assert fake.received() == []


def test_a_wrong_team_or_key_id_fails_as_invalid_provider_token(configured, fake):
    configured.BAAS_APNS_TEAM_ID = "OTHERTEAM1"
    provider = apns.from_settings()
    try:
        [result] = provider.send(message(), targets(1))
    finally:
        provider.close()
    assert (result.outcome, result.reason) == ("failed", "InvalidProviderToken")


@pytest.mark.parametrize(
    "name",
    ["BAAS_APNS_KEY_FILE", "BAAS_APNS_KEY_ID", "BAAS_APNS_TEAM_ID", "BAAS_APNS_TOPIC"],
)
def test_a_missing_setting_means_not_configured(configured, name):
    setattr(configured, name, "")
    with pytest.raises(ProviderNotConfigured, match=name):
        apns.from_settings()


def test_an_unreadable_or_foreign_key_file_means_not_configured(configured, tmp_path):
    configured.BAAS_APNS_KEY_FILE = str(tmp_path / "missing.p8")
    with pytest.raises(ProviderNotConfigured, match="BAAS_APNS_KEY_FILE"):
        apns.from_settings()
    rsa_like = tmp_path / "not-ec.p8"
    rsa_like.write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    configured.BAAS_APNS_KEY_FILE = str(rsa_like)
    with pytest.raises(ProviderNotConfigured, match="BAAS_APNS_KEY_FILE"):
        apns.from_settings()


def test_send_from_two_threads_at_once_shares_the_connection(provider, fake):
    results: dict[int, list] = {}
    start = threading.Barrier(2)

    def send(n: int) -> None:
        start.wait()
        results[n] = provider.send(message(), targets(100, start=n * 100))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes(results[0] + results[1]) == {"sent"}
    stats = fake.stats()
    assert (stats["received"], stats["by_token_max"], stats["connections"]) == (
        200,
        1,
        1,
    )


def test_a_connection_closed_while_idle_is_reopened_transparently(keys, configured):
    with running(
        key_file=keys.good,
        key_id=KEY_ID,
        team_id=TEAM_ID,
        topic=TOPIC,
        idle_timeout=0.3,
    ) as short_lived:
        configured.BAAS_APNS_ENDPOINT = short_lived.url
        provider = apns.from_settings()
        try:
            assert outcomes(provider.send(message(), targets(5))) == {"sent"}
            time.sleep(0.8)  # the server says GOAWAY and hangs up meanwhile
            assert outcomes(provider.send(message(), targets(5, start=5))) == {"sent"}
        finally:
            provider.close()
        stats = short_lived.stats()
    assert (stats["received"], stats["connections"]) == (10, 2)


def test_a_forked_worker_opens_its_own_connection(provider, fake):
    assert outcomes(provider.send(message(), targets(5))) == {"sent"}
    child = os.fork()
    if child == 0:  # the child: as a prefork Celery worker would
        try:
            results = provider.send(message(), targets(5, start=5))
            os._exit(0 if outcomes(results) == {"sent"} else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert outcomes(provider.send(message(), targets(5, start=10))) == {"sent"}
    stats = fake.stats()
    assert (stats["received"], stats["connections"]) == (15, 2)


def test_close_releases_the_connection_and_a_later_send_reopens_it(provider, fake):
    assert outcomes(provider.send(message(), targets(3))) == {"sent"}
    provider.close()
    provider.close()  # twice is fine
    assert outcomes(provider.send(message(), targets(3, start=3))) == {"sent"}
    assert fake.stats()["connections"] == 2


def test_throughput_of_batches_of_500(provider, fake, capsys):
    # one batch by default, to stay quick; BAAS_APNS_BENCH_BATCHES=10 for 5,000 sends
    batches = int(os.environ.get("BAAS_APNS_BENCH_BATCHES", "1"))
    provider.send(message(), targets(1))  # connect first: measure sending only
    fake.reset()
    started = time.perf_counter()
    for batch in range(batches):
        results = provider.send(
            message(message_id=f"bulk-{batch}"), targets(500, start=batch * 500)
        )
        assert outcomes(results) == {"sent"}
    elapsed = time.perf_counter() - started
    sends = batches * 500
    stats = fake.stats()
    assert (stats["received"], stats["by_token_max"], stats["connections"]) == (
        sends,
        1,
        1,
    )
    with capsys.disabled():
        print(
            f"\napns: {sends} sends in {elapsed:.2f}s = {sends / elapsed:.0f} sends/s"
        )
