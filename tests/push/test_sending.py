"""Sending, end to end in one process: a message posted to the API is resolved into one
row per device and sent (eager Celery tasks, after commit) to the fake FCM server, which
checks what FCM checks. Per-device results, invalid tokens, retries after a 429, targets
(topic, users, devices, filter), scheduling, local times, cancelling, and a task that
comes back after its worker died never sending twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.push import sending
from apps.push.models import Delivery, Device, DeviceTopic, Message
from tests.hooks.webhook_helpers import eager_errors  # noqa: F401
from tests.push.fakes import fcm as fake_fcm

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("schema_db", "eager_errors", "fcm_settings"),
]

MESSAGES = "/api/v1/push/messages"


@pytest.fixture(scope="module")
def fcm():
    with fake_fcm.running() as handle:
        yield handle


@pytest.fixture
def fcm_settings(settings, fcm):
    settings.BAAS_FCM_CREDENTIALS = fcm.credentials()
    settings.BAAS_FCM_ENDPOINT = fcm.url
    fcm.reset()
    yield
    from apps.push import providers

    providers.reset()


def token(n: int) -> str:
    return f"fcm-token-{n:04d}-" + "x" * 120


@pytest.fixture
def devices(make_user):
    """Three users with one FCM device each; the first two follow `news`."""
    made = []
    for n in range(3):
        user = make_user(f"user{n}@example.com")
        device = Device.objects.create(
            user=user,
            platform="fcm",
            token=token(n),
            token_hash=f"h{n}",
            timezone="Europe/Paris" if n == 0 else "",
        )
        if n < 2:
            DeviceTopic.objects.create(device=device, topic="news")
        made.append(device)
    return made


def send(admin, body: dict) -> dict:
    response = admin.post(MESSAGES, body, format="json")
    assert response.status_code == 202, response.content
    return admin.get(f"{MESSAGES}/{response.json()['id']}").json()


def test_a_message_to_a_topic_reaches_each_subscribed_device_once(admin, fcm, devices):
    message = send(
        admin,
        {
            "to": {"topic": "news"},
            "notification": {"title": "Match day", "body": "Kick-off at 20:00"},
            "data": {"match": "m1"},
            "ttl": 600,
            "collapse_key": "match",
        },
    )
    assert message["state"] == "done" and message["total"] == 2
    assert message["counts"]["sent"] == 2
    received = fcm.received()
    assert sorted(r["token"] for r in received) == [token(0), token(1)]
    sent = received[0]["message"]
    assert sent["notification"] == {"title": "Match day", "body": "Kick-off at 20:00"}
    assert sent["data"]["match"] == "m1"
    assert sent["android"]["ttl"] == "600s"
    results = message["results"]["items"]
    assert {r["state"] for r in results} == {"sent"}
    assert all(r["provider_id"].startswith("projects/") for r in results)


def test_an_unregistered_token_deactivates_its_device_for_good(admin, fcm, devices):
    fcm.unregister(token(1))
    message = send(admin, {"to": {"topic": "news"}, "notification": {"title": "a"}})
    assert message["counts"]["sent"] == 1 and message["counts"]["invalid_token"] == 1
    gone = Device.objects.get(pk=devices[1].pk)
    assert gone.active is False and "UNREGISTERED" in gone.deactivated_reason
    again = send(admin, {"to": {"topic": "news"}, "notification": {"title": "b"}})
    assert again["total"] == 1
    assert [r["token"] for r in fcm.received()].count(token(1)) == 0


def test_a_quota_answer_is_retried_after_the_providers_retry_after(admin, fcm, devices):
    fcm.quota(1, retry_after=120)
    message = send(admin, {"to": {"users": [devices[2].user_id]}, "data": {"k": "v"}})
    assert message["state"] == "sending" and message["counts"]["queued"] == 1
    row = Delivery.objects.get(message_id=message["id"])
    assert row.attempts == 1 and "QUOTA_EXCEEDED" in row.reason
    wait = (row.due_at - timezone.now()).total_seconds()
    assert 100 < wait <= 120
    sending.tick()  # not due yet: nothing
    assert fcm.stats()["received"] == 0
    Delivery.objects.filter(pk=row.pk).update(due_at=timezone.now())
    sending.tick()
    done = admin.get(f"{MESSAGES}/{message['id']}").json()
    assert done["state"] == "done" and done["counts"]["sent"] == 1
    assert done["results"]["items"][0]["attempts"] == 2


def test_a_filter_over_users_picks_their_devices(admin, fcm, devices):
    message = send(
        admin,
        {"to": {"filter": "email ~ 'user2@'"}, "notification": {"title": "hi"}},
    )
    assert message["total"] == 1
    assert [r["token"] for r in fcm.received()] == [token(2)]


def test_devices_are_sent_to_by_id_and_inactive_ones_are_skipped(admin, fcm, devices):
    Device.objects.filter(pk=devices[0].pk).update(active=False)
    message = send(
        admin,
        {
            "to": {"devices": [devices[0].pk, devices[1].pk]},
            "notification": {"title": "hi"},
        },
    )
    assert message["total"] == 1
    assert [r["token"] for r in fcm.received()] == [token(1)]


def test_a_scheduled_message_waits_for_its_time_then_goes(admin, fcm, devices):
    later = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    message = send(
        admin,
        {"to": {"topic": "news"}, "notification": {"title": "x"}, "send_at": later},
    )
    assert message["state"] == "scheduled" and message["total"] == 0
    sending.tick()
    assert fcm.stats()["received"] == 0
    Message.objects.filter(pk=message["id"]).update(send_at=timezone.now())
    sending.tick()
    done = admin.get(f"{MESSAGES}/{message['id']}").json()
    assert done["state"] == "done" and done["counts"]["sent"] == 2


def test_a_local_time_is_each_devices_own(admin, fcm, devices):
    message = send(
        admin,
        {
            "to": {"topic": "news"},
            "notification": {"title": "x"},
            "send_at": {"local": "09:00"},
        },
    )
    assert message["state"] == "scheduled" and message["total"] == 2
    due = {
        d.device_id: d.due_at for d in Delivery.objects.filter(message_id=message["id"])
    }
    import zoneinfo

    paris = due[devices[0].pk].astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    utc = due[devices[1].pk].astimezone(dt.timezone.utc)
    assert (paris.hour, paris.minute) == (9, 0) and (utc.hour, utc.minute) == (9, 0)
    assert all(
        timezone.now() < moment <= timezone.now() + dt.timedelta(days=1)
        for moment in due.values()
    )
    assert fcm.stats()["received"] == 0
    # Paris' 09:00 comes: only that device is sent
    Delivery.objects.filter(device=devices[0]).update(due_at=timezone.now())
    sending.tick()
    assert [r["token"] for r in fcm.received()] == [token(0)]
    assert admin.get(f"{MESSAGES}/{message['id']}").json()["state"] == "sending"


def test_a_cancelled_message_is_never_sent(admin, fcm, devices):
    later = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    message = send(
        admin,
        {"to": {"topic": "news"}, "notification": {"title": "x"}, "send_at": later},
    )
    assert admin.delete(f"{MESSAGES}/{message['id']}").status_code == 200
    Message.objects.filter(pk=message["id"]).update(send_at=timezone.now())
    sending.tick()
    assert fcm.stats()["received"] == 0
    assert Message.objects.get(pk=message["id"]).state == "cancelled"


def test_a_task_back_after_its_worker_died_does_not_send_what_it_had_taken(
    admin, fcm, devices
):
    message = Message.objects.create(
        to={"topic": "news"}, notification={"title": "x"}, state="sending"
    )
    rows = [
        Delivery.objects.create(
            message=message, device=d, user_id=d.user_id, platform="fcm"
        )
        for d in devices
    ]
    message.expanded, message.total = True, 3
    message.save()
    # The first run took the first two rows, then its worker was killed.
    Delivery.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(claimed_by="task-1")
    sending.send.apply(
        (message.id, "fcm", rows[0].pk, rows[2].pk), task_id="task-1"
    ).get()
    assert [r["token"] for r in fcm.received()] == [token(2)]
    states = {
        d.device_id: (d.state, d.reason)
        for d in Delivery.objects.filter(message=message)
    }
    assert states[devices[2].pk] == ("sent", "")
    assert states[devices[0].pk][0] == "failed"
    assert states[devices[0].pk][1].startswith("unconfirmed")
    assert Message.objects.get(pk=message.pk).state == "done"


def test_a_platform_without_credentials_fails_its_devices_with_the_reason(
    admin, settings, devices
):
    settings.BAAS_FCM_CREDENTIALS = ""
    message = send(admin, {"to": {"topic": "news"}, "notification": {"title": "x"}})
    assert message["state"] == "done" and message["counts"]["failed"] == 2
    assert "BAAS_FCM_CREDENTIALS" in message["results"]["items"][0]["reason"]


def test_a_finished_message_is_told_to_webhooks_of_push_message_finished(
    admin, fcm, devices
):
    from apps.hooks.models import Webhook, WebhookDelivery

    Webhook.objects.create(
        url="https://hooks.example/push",
        events=["push.message.finished"],
        secret="whsec_x",
    )
    message = send(admin, {"to": {"topic": "news"}, "notification": {"title": "x"}})
    (delivery,) = WebhookDelivery.objects.filter(event_type="push.message.finished")
    import orjson

    body = orjson.loads(delivery.body)
    assert body["data"]["message"] == {"id": message["id"], "total": 2}
    assert body["data"]["counts"]["sent"] == 2
