"""/api/v1/push/devices and topic subscriptions: registration per platform, a token
registered again updates its row and moves to the account that registered it last, only
the owner sees and deletes a device, Web Push endpoints only on allowed hosts, topic
rules decide who subscribes to what, and every refusal is a 4xx that writes nothing."""

from __future__ import annotations

import base64
import os

import pytest

from apps.push.models import Device, DeviceTopic
from tests.conftest import USER_PASSWORD, client_with, login

pytestmark = pytest.mark.django_db

DEVICES = "/api/v1/push/devices"
FCM_TOKEN = "fcm-token-" + "a" * 140
APNS_TOKEN = "ab" * 32


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def subscription(endpoint: str) -> dict:
    return {
        "endpoint": endpoint,
        "keys": {"p256dh": b64(b"\x04" + os.urandom(64)), "auth": b64(os.urandom(16))},
    }


@pytest.fixture
def other_client(make_user):
    user = make_user("user2@example.com")
    return client_with(login(user.email, USER_PASSWORD))


def test_an_app_user_registers_an_fcm_device_with_its_details(user_client, app_user):
    response = user_client.post(
        DEVICES,
        {
            "platform": "fcm",
            "token": FCM_TOKEN,
            "app_version": "2.1.0",
            "locale": "fr-FR",
            "timezone": "Europe/Paris",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["platform"] == "fcm" and body["token"] == FCM_TOKEN
    assert body["timezone"] == "Europe/Paris" and body["active"] is True
    assert Device.objects.get(pk=body["id"]).user_id == app_user.pk


def test_registering_the_same_token_again_updates_instead_of_duplicating(user_client):
    first = user_client.post(
        DEVICES, {"platform": "apns", "token": APNS_TOKEN}, format="json"
    )
    again = user_client.post(
        DEVICES,
        {"platform": "apns", "token": APNS_TOKEN.upper(), "app_version": "3"},
        format="json",
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["app_version"] == "3"
    assert Device.objects.count() == 1


def test_a_token_moves_to_the_account_that_signs_in_on_the_device(
    user_client, other_client, admin
):
    created = admin.post(
        "/api/v1/push/topics", {"name": "*", "rule": ""}, format="json"
    )
    assert created.status_code == 201
    first = user_client.post(
        DEVICES,
        {"platform": "fcm", "token": FCM_TOKEN, "topics": ["news"]},
        format="json",
    )
    moved = other_client.post(
        DEVICES, {"platform": "fcm", "token": FCM_TOKEN}, format="json"
    )
    assert moved.status_code == 200
    device = Device.objects.get(pk=first.json()["id"])
    assert device.user.email == "user2@example.com"
    # what the first account subscribed to is not the second's
    assert moved.json()["topics"] == []
    assert user_client.get(DEVICES).json()["items"] == []
    assert [d["id"] for d in other_client.get(DEVICES).json()["items"]] == [device.id]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"platform": "sms", "token": FCM_TOKEN}, "platform"),
        ({"platform": "fcm", "token": "short"}, "token"),
        ({"platform": "fcm", "token": "has a space " * 3}, "token"),
        ({"platform": "apns", "token": "zz" * 32}, "token"),
        ({"platform": "fcm"}, "token"),
        (
            {"platform": "fcm", "token": FCM_TOKEN, "timezone": "Mars/Olympus"},
            "timezone",
        ),
        ({"platform": "fcm", "token": FCM_TOKEN, "locale": "!!"}, "locale"),
        ({"platform": "fcm", "token": FCM_TOKEN, "topics": "news"}, "topics"),
        ({"platform": "fcm", "token": FCM_TOKEN, "extra": 1}, "extra"),
        ({"platform": "webpush", "token": FCM_TOKEN}, "token"),
        ({"platform": "webpush", "subscription": {"endpoint": 3}}, "subscription"),
        (
            {
                "platform": "webpush",
                "subscription": {
                    "endpoint": "https://fcm.googleapis.com/fcm/send/x",
                    "keys": {"p256dh": "AAAA", "auth": b64(os.urandom(16))},
                },
            },
            "subscription.keys.p256dh",
        ),
    ],
)
def test_a_bad_registration_is_a_400_naming_the_field(user_client, body, param):
    response = user_client.post(DEVICES, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == param
    assert Device.objects.count() == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://127.0.0.1/push",
        "https://evil.example/push",
        "https://fcm.googleapis.com.evil.example/push",
        "https://fcm.googleapis.com@evil.example/push",
        "http://fcm.googleapis.com/fcm/send/x",
    ],
)
def test_a_web_push_endpoint_off_the_allowed_hosts_is_refused(user_client, endpoint):
    response = user_client.post(
        DEVICES,
        {"platform": "webpush", "subscription": subscription(endpoint)},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == "subscription.endpoint"
    assert Device.objects.count() == 0


def test_a_browser_subscription_on_a_public_push_service_is_registered(user_client):
    sub = subscription("https://fcm.googleapis.com/fcm/send/abc:def")
    response = user_client.post(
        DEVICES, {"platform": "webpush", "subscription": sub}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["subscription"]["endpoint"] == sub["endpoint"]


def test_devices_need_a_user(anon, key_client):
    body = {"platform": "fcm", "token": FCM_TOKEN}
    assert anon.post(DEVICES, body, format="json").status_code == 401
    assert key_client("push:send").post(DEVICES, body, format="json").status_code == 403
    assert Device.objects.count() == 0


def test_only_the_owner_sees_and_deletes_a_device(user_client, other_client):
    device = user_client.post(
        DEVICES, {"platform": "fcm", "token": FCM_TOKEN}, format="json"
    ).json()
    url = f"{DEVICES}/{device['id']}"
    assert other_client.get(url).status_code == 404
    assert other_client.delete(url).status_code == 404
    assert Device.objects.filter(pk=device["id"]).exists()
    assert user_client.delete(url).status_code == 204
    assert not Device.objects.filter(pk=device["id"]).exists()


def test_topic_rules_decide_who_subscribes_to_what(user_client, admin, app_user):
    device = user_client.post(
        DEVICES, {"platform": "fcm", "token": FCM_TOKEN}, format="json"
    ).json()
    sub = "/api/v1/push/topics/{}/subscription"
    # No rule matches: superusers only.
    refused = user_client.post(sub.format("news"), {}, format="json")
    assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == (
        "topic_forbidden"
    )
    created = admin.post(
        "/api/v1/push/topics",
        {"name": "news-*", "rule": "@request.auth.id != ''"},
        format="json",
    )
    assert created.status_code == 201, created.content
    own = admin.post(
        "/api/v1/push/topics",
        {"name": "user-*", "rule": "@topic.name ~ @request.auth.id"},
        format="json",
    )
    assert own.status_code == 201, own.content
    for topic, status in (
        ("news-sport", 200),
        (f"user-{app_user.pk}", 200),
        ("user-someoneelse", 403),
    ):
        response = user_client.post(sub.format(topic), {}, format="json")
        assert response.status_code == status, response.content
    topics = set(
        DeviceTopic.objects.filter(device_id=device["id"]).values_list(
            "topic", flat=True
        )
    )
    assert topics == {"news-sport", f"user-{app_user.pk}"}
    assert (
        user_client.delete(sub.format("news-sport"), format="json").status_code == 200
    )
    assert not DeviceTopic.objects.filter(topic="news-sport").exists()


def test_registering_with_a_forbidden_topic_writes_nothing(user_client):
    response = user_client.post(
        DEVICES,
        {"platform": "fcm", "token": FCM_TOKEN, "topics": ["secret"]},
        format="json",
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["param"] == "topics.0"
    assert Device.objects.count() == 0


def test_topic_rules_are_managed_by_superusers_and_schema_keys_only(
    user_client, key_client, admin
):
    body, url = {"name": "news", "rule": ""}, "/api/v1/push/topics"
    assert user_client.post(url, body, format="json").status_code == 403
    assert key_client("push:send").post(url, body, format="json").status_code == 403
    assert key_client("schema").post(url, body, format="json").status_code == 201
    bad = admin.post(url, {"name": "x", "rule": "title = 1"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["param"] == "rule"


def test_the_account_export_carries_the_users_devices(user_client):
    user_client.post(DEVICES, {"platform": "fcm", "token": FCM_TOKEN}, format="json")
    response = user_client.get("/api/v1/account/export")
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    import orjson

    devices = orjson.loads(body)["push_devices"]
    assert [d["token"] for d in devices] == [FCM_TOKEN]
    assert devices[0]["deliveries"] == []
