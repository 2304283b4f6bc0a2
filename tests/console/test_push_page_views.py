"""The console's push pages in-process: sending through messages.message_send (its
errors shown next to the field), the message detail, cancelling, devices, topic rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from apps.push.models import Message, Topic

pytestmark = pytest.mark.usefixtures("schema_db")

XSS = '<img src=x onerror=alert(1)>"><script>'


def _send(client, **fields):
    form = {"kind": "users", "target": "", "title": "", "body": "", "data": ""}
    form.update(fields)
    return client.post("/console/push/send/", form)


def test_the_push_page_shows_providers_and_the_vapid_key(console_client):
    response = console_client.get("/console/push/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "FCM is not configured" in html
    assert 'id="vapid-key"' in html


def test_a_message_to_a_user_without_devices_is_done_with_none(
    console_client, make_user
):
    user = make_user("nodevice@example.com")
    response = _send(
        console_client, target=user.pk, title=XSS, body=XSS, data=json.dumps({"k": XSS})
    )
    assert response.status_code == 302, response.content
    message = Message.objects.get()
    assert response["Location"] == f"/console/push/{message.pk}/"
    detail = console_client.get(response["Location"])
    html = detail.content.decode()
    assert detail.context["message"]["state"] == "done"
    assert detail.context["message"]["total"] == 0
    assert "<img src=x" not in html and '"><script>' not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    listing = console_client.get("/console/push/?state=done").content.decode()
    assert "<img src=x" not in listing and message.pk in listing


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"target": ""}, "target", "to.users"),
        ({"target": "abc", "data": "{nope"}, "data", "not valid JSON"),
        ({"target": "abc", "data": '{"n": 1}'}, "data", "text values"),
        ({"target": "abc"}, "title", "notification, data, or both"),
        ({"kind": "topic", "target": "a b", "title": "x"}, "target", "topic name"),
        ({"target": "abc", "title": "x", "send_at": "soon"}, "send_at", "date"),
    ],
)
def test_send_errors_are_shown_next_to_their_field(console_client, fields, field, text):
    response = _send(console_client, **fields)
    assert response.status_code == 400
    assert text in response.context["form_errors"][field]
    assert text in response.content.decode()
    assert not Message.objects.exists()


def test_a_scheduled_message_is_cancelled(console_client, make_user):
    user = make_user("later@example.com")
    later = (timezone.now() + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = _send(console_client, target=user.pk, title="Later", send_at=later)
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.state == "scheduled"
    detail = console_client.get(response["Location"]).content.decode()
    assert "Cancel message" in detail
    cancelled = console_client.post(f"/console/push/{message.pk}/cancel/")
    assert cancelled.status_code == 302
    message.refresh_from_db()
    assert message.state == "cancelled"
    again = console_client.post(f"/console/push/{message.pk}/cancel/", follow=True)
    assert "Cancel message" not in again.content.decode()
    missing = console_client.get("/console/push/nosuchmessage1/")
    assert missing.status_code == 404


def test_topic_rules_are_created_edited_and_deleted(console_client):
    created = console_client.post(
        "/console/push/topics/", {"name": "news-*", "rule": XSS}
    )
    assert created.status_code == 400  # not a valid rule: shown in place
    assert "Invalid expression" in created.context["form_errors"]["rule"]
    created = console_client.post(
        "/console/push/topics/", {"name": "news-*", "rule": ""}
    )
    assert created.status_code == 302
    assert Topic.objects.get().subscribe_rule == ""
    duplicate = console_client.post(
        "/console/push/topics/", {"name": "news-*", "superusers_only": "1"}
    )
    assert duplicate.status_code == 409
    edited = console_client.post(
        "/console/push/topics/news-*/", {"rule": '@request.auth.id != ""'}
    )
    assert edited.status_code == 302
    assert Topic.objects.get().subscribe_rule == '@request.auth.id != ""'
    bad_name = console_client.post("/console/push/topics/", {"name": XSS})
    assert bad_name.status_code == 400
    assert "<img src=x" not in bad_name.content.decode()
    deleted = console_client.post("/console/push/topics/news-*/delete/")
    assert deleted.status_code == 302
    assert not Topic.objects.exists()


def test_devices_are_listed_with_their_user(console_client, make_user):
    from apps.push.models import Device

    user = make_user(f"dev{XSS[:8]}@example.com".replace("<", "x").replace(" ", ""))
    Device.objects.create(user=user, platform="fcm", token="t", token_hash="h" * 64)
    response = console_client.get("/console/push/devices/?platform=fcm&active=yes")
    assert response.status_code == 200
    assert user.email in response.content.decode()
    assert response.context["total"] == 1
    none = console_client.get("/console/push/devices/?active=no")
    assert none.context["total"] == 0
