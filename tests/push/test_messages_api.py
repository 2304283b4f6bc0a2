"""/api/v1/push/messages: who may send, read and cancel (a scenario table), what a
message may carry (each mistake a 400 naming the field, nothing stored), scheduling,
cancelling, and opens reported by the device's user."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.push.models import Delivery, Device, Message
from tests.conftest import USER_PASSWORD, client_with, login

pytestmark = pytest.mark.django_db

MESSAGES = "/api/v1/push/messages"
HELLO = {"to": {"topic": "news"}, "notification": {"title": "Hello", "body": "World"}}


@pytest.fixture
def actors(anon, user_client, admin, key_client):
    return {
        "anonymous": anon,
        "app user": user_client,
        "superuser": admin,
        "push:send key": key_client("push:send"),
        "records key": key_client("records:read", "records:write", "schema"),
    }


@pytest.mark.parametrize(
    "actor, status",
    [
        ("anonymous", 401),
        ("app user", 403),
        ("records key", 403),
        ("superuser", 202),
        ("push:send key", 202),
    ],
)
def test_who_may_send_read_and_cancel(actors, actor, status):
    client = actors[actor]
    response = client.post(MESSAGES, HELLO, format="json")
    assert response.status_code == status, response.content
    if status != 202:
        assert Message.objects.count() == 0
        message = Message.objects.create(to={"topic": "news"})
        assert client.get(f"{MESSAGES}/{message.id}").status_code == status
        assert client.get(MESSAGES).status_code == status
        assert client.delete(f"{MESSAGES}/{message.id}").status_code == status
        return
    body = response.json()
    assert body["state"] in ("scheduled", "sending")
    got = client.get(f"{MESSAGES}/{body['id']}").json()
    assert got["counts"] == {
        "queued": 0,
        "sent": 0,
        "failed": 0,
        "invalid_token": 0,
        "opened": 0,
    }
    assert got["results"] == {"items": [], "next_cursor": None}
    assert [m["id"] for m in client.get(MESSAGES).json()["items"]] == [body["id"]]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"notification": {"title": "x"}}, "to"),
        ({"to": {}, "notification": {"title": "x"}}, "to"),
        ({"to": {"topic": "a", "users": ["b"]}, "notification": {"title": "x"}}, "to"),
        ({"to": {"users": []}, "notification": {"title": "x"}}, "to.users"),
        ({"to": {"users": ["a b"]}, "notification": {"title": "x"}}, "to.users"),
        ({"to": {"devices": "abc"}, "notification": {"title": "x"}}, "to.devices"),
        ({"to": {"topic": "bad topic"}, "notification": {"title": "x"}}, "to.topic"),
        ({"to": {"filter": "nosuchfield = 1"}, "notification": {"a": 1}}, "to.filter"),
        ({"to": {"filter": "email ="}, "notification": {"title": "x"}}, "to.filter"),
        ({"to": {"topic": "news"}}, "notification"),
        ({"to": {"topic": "news"}, "notification": {"title": 3}}, "notification.title"),
        ({"to": {"topic": "news"}, "notification": {"x": "y"}}, "notification.x"),
        (
            {"to": {"topic": "news"}, "notification": {"image": "http://a/b.png"}},
            "notification.image",
        ),
        (
            {"to": {"topic": "news"}, "notification": {"badge": -1}},
            "notification.badge",
        ),
        ({"to": {"topic": "news"}, "data": {"n": 1}}, "data"),
        ({"to": {"topic": "news"}, "data": {"big": "x" * 5000}}, "data"),
        ({**HELLO, "ttl": -1}, "ttl"),
        ({**HELLO, "ttl": 10**9}, "ttl"),
        ({**HELLO, "priority": "urgent"}, "priority"),
        ({**HELLO, "collapse_key": "x" * 65}, "collapse_key"),
        ({**HELLO, "send_at": "tomorrow"}, "send_at"),
        ({**HELLO, "send_at": "2030-01-01T09:00:00"}, "send_at"),
        ({**HELLO, "send_at": {"local": "25:00"}}, "send_at.local"),
        ({**HELLO, "overrides": {"sms": {}}}, "overrides"),
        ({**HELLO, "surprise": True}, "surprise"),
    ],
)
def test_a_bad_message_is_a_400_naming_the_field(admin, body, param):
    response = admin.post(MESSAGES, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == param
    assert Message.objects.count() == 0


def test_a_message_for_later_is_scheduled_and_can_be_cancelled(admin):
    later = (timezone.now() + dt.timedelta(hours=2)).isoformat()
    body = admin.post(MESSAGES, {**HELLO, "send_at": later}, format="json").json()
    assert body["state"] == "scheduled"
    assert body["send_at"].endswith("Z")
    cancelled = admin.delete(f"{MESSAGES}/{body['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    # listed by state
    listed = admin.get(MESSAGES, {"state": "cancelled"}).json()["items"]
    assert [m["id"] for m in listed] == [body["id"]]
    assert admin.get(MESSAGES, {"state": "done"}).json()["items"] == []


def test_a_message_sent_to_any_device_cannot_be_cancelled(admin, app_user):
    message = Message.objects.create(to={"topic": "news"}, state="sending")
    device = Device.objects.create(
        user=app_user, platform="fcm", token="t" * 30, token_hash="h"
    )
    Delivery.objects.create(
        message=message,
        device=device,
        user_id=app_user.pk,
        platform="fcm",
        state="sent",
    )
    response = admin.delete(f"{MESSAGES}/{message.id}")
    assert response.status_code == 409
    assert Message.objects.get(pk=message.pk).state == "sending"


def test_a_local_time_message_shows_its_local_time(admin):
    body = admin.post(
        MESSAGES, {**HELLO, "send_at": {"local": "09:00"}}, format="json"
    ).json()
    assert body["send_at"] == {"local": "09:00"}


def test_only_the_devices_user_reports_an_open(admin, app_user, make_user):
    message = Message.objects.create(to={"topic": "news"}, state="done")
    device = Device.objects.create(
        user=app_user, platform="fcm", token="t" * 30, token_hash="h"
    )
    Delivery.objects.create(
        message=message,
        device=device,
        user_id=app_user.pk,
        platform="fcm",
        state="sent",
    )
    url = f"{MESSAGES}/{message.id}/opened"
    stranger = make_user("user2@example.com")
    assert (
        client_with(login(stranger.email, USER_PASSWORD))
        .post(url, {}, format="json")
        .status_code
        == 404
    )
    owner = client_with(login(app_user.email, USER_PASSWORD))
    response = owner.post(url, {"device": device.id}, format="json")
    assert response.status_code == 200 and response.json() == {"opened": 1}
    counts = admin.get(f"{MESSAGES}/{message.id}").json()["counts"]
    assert counts["opened"] == 1 and counts["sent"] == 0


def test_the_push_endpoints_are_in_the_openapi_document(anon):
    from openapi_spec_validator import validate

    document = anon.get("/api/v1/openapi.json").json()
    validate(document)
    paths = document["paths"]
    assert set(paths["/api/v1/push/devices"]) == {"get", "post"}
    assert set(paths["/api/v1/push/messages"]) == {"get", "post"}
    assert set(paths["/api/v1/push/messages/{message_id}"]) == {"get", "delete"}
    assert set(paths["/api/v1/push/topics/{topic}/subscription"]) == {"post", "delete"}
    assert paths["/api/v1/push/webpush/vapid-public-key"]["get"]["security"] == []


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/api/v1/push/devices", None),
        ("post", "/api/v1/push/devices", {"platform": "fcm", "token": "t" * 40}),
        ("get", "/api/v1/push/devices/abc", None),
        ("delete", "/api/v1/push/devices/abc", None),
        ("post", "/api/v1/push/topics/news/subscription", {}),
        ("delete", "/api/v1/push/topics/news/subscription", {}),
        ("post", "/api/v1/push/messages/abc/opened", {}),
        ("get", "/api/v1/push/topics", None),
        ("post", "/api/v1/push/topics", {"name": "news", "rule": ""}),
        ("get", "/api/v1/push/topics/news", None),
        ("patch", "/api/v1/push/topics/news", {"rule": ""}),
        ("delete", "/api/v1/push/topics/news", None),
    ],
)
def test_every_push_path_refuses_who_it_is_not_for(
    anon, user_client, key_client, method, path, body
):
    """Anonymous callers get 401; app users are refused the operator paths (403) and
    keys the user paths (403); nothing is written."""
    user_paths = "/devices" in path or "subscription" in path or "opened" in path
    kwargs = {"format": "json"} if body is not None else {}
    args = (path, body) if body is not None else (path,)
    assert getattr(anon, method)(*args, **kwargs).status_code == 401
    key = key_client("records:read", "records:write", "push:send")
    if user_paths:
        assert getattr(key, method)(*args, **kwargs).status_code == 403
    else:
        assert getattr(user_client, method)(*args, **kwargs).status_code == 403
        assert getattr(key, method)(*args, **kwargs).status_code == 403
    assert not Device.objects.exists() and not Message.objects.exists()
    from apps.push.models import Topic

    assert not Topic.objects.exists()
