"""One message to a user with a phone on FCM, an iPhone on APNs and a browser on Web
Push, each registered through the API: every fake provider gets its own delivery once,
in its own format (the Web Push receiver decrypts it), and the user reports the open."""

from __future__ import annotations

import pytest

from apps.push import providers
from tests.hooks.webhook_helpers import eager_errors  # noqa: F401
from tests.push.fakes import apns as fake_apns
from tests.push.fakes import fcm as fake_fcm
from tests.push.fakes import webpush as fake_webpush
from tests.push.test_apns_provider import KEY_ID, TEAM_ID, TOPIC, keys  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("schema_db", "eager_errors"),
]

FCM_TOKEN = "fcm-" + "p" * 150
APNS_TOKEN = "ab" * 32


@pytest.fixture(scope="module")
def fakes(keys):  # noqa: F811
    with (
        fake_fcm.running() as fcm,
        fake_apns.running(
            key_file=keys.good, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC
        ) as apns,
        fake_webpush.running() as webpush,
    ):
        yield fcm, apns, webpush


@pytest.fixture
def configured(settings, fakes, keys, tmp_path):  # noqa: F811
    fcm, apns, webpush = fakes
    settings.BAAS_FCM_CREDENTIALS = fcm.credentials()
    settings.BAAS_FCM_ENDPOINT = fcm.url
    settings.BAAS_APNS_KEY_FILE = str(keys.good)
    settings.BAAS_APNS_KEY_ID = KEY_ID
    settings.BAAS_APNS_TEAM_ID = TEAM_ID
    settings.BAAS_APNS_TOPIC = TOPIC
    settings.BAAS_APNS_ENDPOINT = apns.url
    settings.BAAS_WEBPUSH_ALLOWED_HOSTS = [f"127.0.0.1:{webpush.url.rsplit(':', 1)[1]}"]
    settings.BAAS_PUSH_DIR = tmp_path / "push"
    settings.BAAS_VAPID_SUBJECT = "mailto:ops@example.com"
    for fake in fakes:
        fake.reset()
    yield fakes
    providers.reset()


def test_one_message_reaches_each_platform_in_its_own_format(
    configured, user_client, admin, app_user
):
    fcm, apns, webpush = configured
    key = user_client.get("/api/v1/push/webpush/vapid-public-key").json()["public_key"]
    subscription = webpush.subscribe(application_server_key=key)
    devices = {}
    for body in (
        {"platform": "fcm", "token": FCM_TOKEN},
        {"platform": "apns", "token": APNS_TOKEN},
        {"platform": "webpush", "subscription": subscription},
    ):
        response = user_client.post("/api/v1/push/devices", body, format="json")
        assert response.status_code == 201, response.content
        devices[body["platform"]] = response.json()["id"]

    sent = admin.post(
        "/api/v1/push/messages",
        {
            "to": {"users": [app_user.pk]},
            "notification": {"title": "Hello", "body": "Three ways", "badge": 3},
            "data": {"order": "o1"},
            "priority": "normal",
        },
        format="json",
    )
    assert sent.status_code == 202, sent.content
    message = admin.get(f"/api/v1/push/messages/{sent.json()['id']}").json()
    assert message["state"] == "done", message
    assert message["counts"]["sent"] == 3, message["results"]

    (android,) = fcm.received()
    assert android["token"] == FCM_TOKEN
    assert android["message"]["notification"]["title"] == "Hello"
    assert android["message"]["data"]["order"] == "o1"
    (iphone,) = apns.received()
    assert iphone["token"] == APNS_TOKEN
    assert iphone["payload"]["aps"]["alert"] == {"title": "Hello", "body": "Three ways"}
    assert iphone["payload"]["aps"]["badge"] == 3
    assert iphone["headers"]["apns-priority"] == "5"
    (browser,) = webpush.received()
    assert browser["payload"]["title"] == "Hello"
    assert browser["payload"]["data"] == {"order": "o1"}
    assert browser["payload"]["message_id"] == message["id"]

    opened = user_client.post(
        f"/api/v1/push/messages/{message['id']}/opened",
        {"device": devices["webpush"]},
        format="json",
    )
    assert opened.status_code == 200 and opened.json() == {"opened": 1}
    counts = admin.get(f"/api/v1/push/messages/{message['id']}").json()["counts"]
    assert (counts["sent"], counts["opened"]) == (2, 1)
