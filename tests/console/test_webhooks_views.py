"""The console_client's webhooks pages in-process: create through apps.hooks.webhook_service
with its refusals (SSRF included) shown next to the field, the secret shown once, edit,
pause and enable again, delete, the delivery log with a delivery's detail and
redelivery, and user-controlled strings rendered as text."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.hooks.models import AuditEntry, Webhook, WebhookDelivery
from tests.hooks import webhook_helpers

XSS = '<img src=x onerror=alert(1)>"><script>'
URL = 'https://hooks.invalid/in/<img/src=x/onerror=alert(1)>"><script>'

posts = webhook_helpers.posts

pytestmark = pytest.mark.django_db(transaction=True)


def form(**fields) -> dict:
    return {
        "url": "https://hooks.invalid/in",
        "events": "posts.create\nposts.update",
        "filter": "",
        "active": "on",
        **fields,
    }


def test_creating_a_webhook_shows_its_secret_once(console_client, posts):
    assert console_client.get("/console/webhooks/new/").status_code == 200
    response = console_client.post("/console/webhooks/new/", form())
    assert response.status_code == 201
    webhook = Webhook.objects.get()
    html = response.content.decode()
    assert webhook.secret in html and "shown only once" in html
    assert webhook.events == ["posts.create", "posts.update"]
    for url in ("/console/webhooks/", f"/console/webhooks/{webhook.pk}/"):
        page = console_client.get(url).content.decode()
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
def test_refusals_are_shown_next_to_the_field(
    console_client, posts, fields, param, message
):
    response = console_client.post("/console/webhooks/new/", form(**fields))
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{param}-error"' in html and message in html
    assert not Webhook.objects.exists()


def test_editing_pausing_enabling_and_deleting(console_client, posts):
    console_client.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    edit = f"/console/webhooks/{webhook.pk}/edit/"
    assert console_client.get(edit).status_code == 200
    bad = console_client.post(edit, form(url="http://192.168.1.1/"))
    assert bad.status_code == 400 and 'id="url-error"' in bad.content.decode()
    saved = console_client.post(edit, form(events="posts.*", filter='status = "live"'))
    assert saved.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.events, webhook.filter) == (["posts.*"], 'status = "live"')

    console_client.post(f"/console/webhooks/{webhook.pk}/enable/", {"active": "off"})
    webhook.refresh_from_db()
    assert webhook.active is False
    Webhook.objects.filter(pk=webhook.pk).update(
        disabled_at=timezone.now(), disabled_reason="HTTP 500 for 3 days"
    )
    page = console_client.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    assert "Disabled after failures" in page and "HTTP 500 for 3 days" in page
    assert "Enable again" in page
    listing = console_client.get("/console/webhooks/").content.decode()
    assert "Disabled after failures" in listing
    console_client.post(f"/console/webhooks/{webhook.pk}/enable/")
    webhook.refresh_from_db()
    assert webhook.active and webhook.disabled_at is None

    assert (
        console_client.post(f"/console/webhooks/{webhook.pk}/delete/").status_code
        == 302
    )
    assert not Webhook.objects.exists()
    assert console_client.get(f"/console/webhooks/{webhook.pk}/").status_code == 404


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


def test_the_delivery_log_and_a_delivery_detail(console_client, posts):
    console_client.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    sent = delivery(webhook)
    page = console_client.get(f"/console/webhooks/{webhook.pk}/").content.decode()
    assert "41 ms" in page and ">500<" in page and "badge danger" in page
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    failed = console_client.get(f"/console/webhooks/{webhook.pk}/?state=failed")
    assert sent.pk in failed.content.decode()
    none = console_client.get(f"/console/webhooks/{webhook.pk}/?state=succeeded")
    assert sent.pk not in none.content.decode()
    assert (
        console_client.get(f"/console/webhooks/{webhook.pk}/?state=bad").status_code
        == 400
    )

    detail = console_client.get(f"/console/webhooks/{webhook.pk}/deliveries/{sent.pk}/")
    html = detail.content.decode()
    assert detail.status_code == 200 and "Redeliver now" in html
    assert "<img src=x" not in html and XSS not in html


def test_redelivery_queues_the_delivery_again(console_client, posts, monkeypatch):
    console_client.post("/console/webhooks/new/", form())
    webhook = Webhook.objects.get()
    sent = delivery(webhook)
    retried = []
    monkeypatch.setattr(
        "apps.hooks.webhook_delivery.retry", lambda d: retried.append(d.pk)
    )
    url = f"/console/webhooks/{webhook.pk}/deliveries/{sent.pk}/retry/"
    response = console_client.post(url, follow=True)
    assert retried == [sent.pk] and "Redelivery queued." in response.content.decode()

    Webhook.objects.filter(pk=webhook.pk).update(active=False)
    response = console_client.post(url, follow=True)
    assert retried == [sent.pk] and "not active" in response.content.decode()


def test_webhook_strings_render_as_text(console_client, posts):
    response = console_client.post(
        "/console/webhooks/new/", form(url=URL, filter=f"title = '{XSS}'")
    )
    assert response.status_code == 201, response.content.decode()
    webhook = Webhook.objects.get()
    pages = [
        response,
        console_client.get("/console/webhooks/"),
        console_client.get(f"/console/webhooks/{webhook.pk}/"),
        console_client.get(f"/console/webhooks/{webhook.pk}/edit/"),
    ]
    for page in pages:
        html = page.content.decode()
        assert "<img src=x" not in html and "<img/src" not in html
        assert '"><script>' not in html
    refused = console_client.post("/console/webhooks/new/", form(events=XSS))
    assert refused.status_code == 400
    assert "<img src=x" not in refused.content.decode()
