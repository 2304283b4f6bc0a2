"""The console's webhooks pages in-process: create through apps.hooks.webhook_service
with its refusals (SSRF included) shown next to the field, the secret shown once, edit,
pause and enable again, delete, the delivery log with a delivery's detail and
redelivery, and user-controlled strings rendered as text."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from admin_ui.access import CONSOLE_SESSION_KEY
from apps.hooks.models import AuditEntry, Webhook, WebhookDelivery
from tests.hooks import webhook_helpers

XSS = '<img src=x onerror=alert(1)>"><script>'
URL = 'https://hooks.invalid/in/<img/src=x/onerror=alert(1)>"><script>'

posts = webhook_helpers.posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def console(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    session = client.session
    session[CONSOLE_SESSION_KEY] = str(superuser.pk)
    session.save()
    return client


def form(**fields) -> dict:
    return {
        "url": "https://hooks.invalid/in",
        "events": "posts.create\nposts.update",
        "filter": "",
        "active": "on",
        **fields,
    }


def test_creating_a_webhook_shows_its_secret_once(console, posts):
    assert console.get("/console/webhooks/new/").status_code == 200
    response = console.post("/console/webhooks/new/", form())
    assert response.status_code == 201
    webhook = Webhook.objects.get()
    html = response.content.decode()
    assert webhook.secret in html and "shown only once" in html
    assert webhook.events == ["posts.create", "posts.update"]
    for url in ("/console/webhooks/", f"/console/webhooks/{webhook.pk}/"):
        page = console.get(url).content.decode()
        assert webhook.secret not in page and "https://hooks.invalid/in" in page
    assert AuditEntry.objects.filter(action="webhook.create").exists()


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"url": "http://127.0.0.1/"}, "url", ""),
        ({"url": "http://10.0.0.5/hook"}, "url", ""),
        ({"url": "ftp://example.com/"}, "url", "http:// or https://"),
        ({"events": ""}, "events", "at least one"),
        ({"events": "nothere.create"}, "events", "no collection named"),
        ({"filter": "title = "}, "filter", "Invalid filter for posts"),
    ],
)
def test_refusals_are_shown_next_to_the_field(console, posts, fields, param, message):
    response = console.post("/console/webhooks/new/", form(**fields))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{param}-error"' in html and message in html
    assert not Webhook.objects.exists()


def test_editing_pausing_enabling_and_deleting(console, posts):
    console.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    edit = f"/console/webhooks/{webhook.pk}/edit/"
    assert console.get(edit).status_code == 200
    bad = console.post(edit, form(url="http://192.168.1.1/"))
    assert bad.status_code == 400 and 'id="url-error"' in bad.content.decode()
    saved = console.post(edit, form(events="posts.*", filter='status = "live"'))
    assert saved.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.events, webhook.filter) == (["posts.*"], 'status = "live"')

    console.post(f"/console/webhooks/{webhook.pk}/enable/", {"active": "off"})
    webhook.refresh_from_db()
    assert webhook.active is False
    Webhook.objects.filter(pk=webhook.pk).update(
        disabled_at=timezone.now(), disabled_reason="HTTP 500 for 3 days"
    )
    page = console.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    assert "Disabled after failures" in page and "HTTP 500 for 3 days" in page
    assert "Enable again" in page
    listing = console.get("/console/webhooks/").content.decode()
    assert "Disabled after failures" in listing
    console.post(f"/console/webhooks/{webhook.pk}/enable/")
    webhook.refresh_from_db()
    assert webhook.active and webhook.disabled_at is None

    assert console.post(f"/console/webhooks/{webhook.pk}/delete/").status_code == 302
    assert not Webhook.objects.exists()
    assert console.get(f"/console/webhooks/{webhook.pk}/").status_code == 404


def delivery(webhook: Webhook, **fields) -> WebhookDelivery:
    values = {
        "webhook": webhook,
        "event_type": "posts.create",
        "record_id": "r1",
        "body": '{"type": "posts.create", "data": {"record": {"title": %s}}}'
        % '"<img src=x onerror=alert(1)>"',
        "state": WebhookDelivery.FAILED,
        "attempts": 3,
        "status_code": 500,
        "latency_ms": 41,
        "last_error": XSS,
        "created": timezone.now(),
        **fields,
    }
    return WebhookDelivery.objects.create(**values)


def test_the_delivery_log_and_a_delivery_detail(console, posts):
    console.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    sent = delivery(webhook)
    page = console.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    assert "41 ms" in page and ">500<" in page and "badge danger" in page
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    failed = console.get(f"/console/webhooks/{webhook.pk}/?state=failed")
    assert sent.pk in failed.content.decode()
    none = console.get(f"/console/webhooks/{webhook.pk}/?state=succeeded")
    assert sent.pk not in none.content.decode()
    assert console.get(f"/console/webhooks/{webhook.pk}/?state=bad").status_code == 400

    detail = console.get(f"/console/webhooks/{webhook.pk}/deliveries/{sent.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200 and "Redeliver now" in html
    assert "<img src=x" not in html and XSS not in html


def test_redelivery_queues_the_delivery_again(console, posts, monkeypatch):
    console.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    sent = delivery(webhook)
    retried = []
    monkeypatch.setattr(
        "apps.hooks.webhook_delivery.retry", lambda d: retried.append(d.pk)
    )
    url = f"/console/webhooks/{webhook.pk}/deliveries/{sent.pk}/retry/"
    response = console.post(url, follow=True)
    assert retried == [sent.pk] and "Redelivery queued." in response.content.decode()

    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    response = console.post(url, follow=True)
    assert retried == [sent.pk] and "not active" in response.content.decode()


def test_webhook_strings_render_as_text(console, posts):
    response = console.post(
        "/console/webhooks/new/", form(url=URL, filter=f"title = '{XSS}'")
    )
    assert response.status_code == 201, response.content.decode()
    webhook = Webhook.objects.get()
    pages = [
        response,
        console.get("/console/webhooks/"),
        console.get(f"/console/webhooks/{webhook.pk}/"),
        console.get(f"/console/webhooks/{webhook.pk}/edit/"),
    ]
    for page in pages:
        html = page.content.decode()
        assert "<img src=x" not in html and "<img/src" not in html
        assert '"><script>' not in html
    refused = console.post("/console/webhooks/new/", form(events=XSS))
    assert refused.status_code == 400
    assert "<img src=x" not in refused.content.decode()
