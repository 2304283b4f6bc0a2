"""The push pages in a browser: send to a user with no devices and see it done with
none, schedule and cancel, topic rules CRUD; hostile text stays text."""

from __future__ import annotations

import datetime as dt
import json
import time

from tests.console.conftest import unique
from tests.e2e import servers

XSS = '<img src=x onerror=alert(1)>"><script>'


def _user(console_api) -> str:
    created = console_api.post(
        "/api/v1/collections/users/records",
        {"email": f"{unique('push')}@example.com", "password": "a long user password"},
    )
    assert created.status_code in (200, 201), created.text
    return created.json()["id"]


def _send(
    page, user_id: str, *, title: str, body: str = "", data: str = "", send_at: str = ""
) -> None:
    page.check("input[name=kind][value=users]")
    page.fill("#push-target", user_id)
    page.fill("#push-title", title)
    page.fill("#push-body", body)
    page.fill("#push-data", data)
    if send_at:
        page.fill("#push-send-at", send_at)
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_load_state("networkidle")


def test_a_message_to_a_user_without_devices_is_done_with_none(console, console_api):
    user_id = _user(console_api)
    console.goto("/console/push/")
    page = console.page
    assert "set BAAS_FCM_CREDENTIALS" in page.locator("#provider-fcm").inner_text()
    _send(page, user_id, title=XSS, body=XSS, data=json.dumps({"screen": XSS}))
    assert "/console/push/" in page.url and page.url.rstrip("/") != (
        console.base_url + "/console/push"
    )
    deadline = time.monotonic() + 60
    while "done" not in page.locator("#notification-heading").inner_text():
        assert time.monotonic() < deadline, "the message was never sent"
        time.sleep(1)
        page.reload()
    assert page.locator("#message-title").inner_text() == XSS
    assert page.locator("#message-body").inner_text() == XSS
    assert json.loads(page.locator("#message-data").inner_text()) == {"screen": XSS}
    assert page.locator("#message-total").inner_text() == "0"
    assert (
        "matched no active device" in page.locator("#message-no-results").inner_text()
    )
    assert console.axe() == []
    console.screenshot("push-message")
    console.goto("/console/push/?state=done")
    assert page.locator("#push-messages").get_by_text(XSS).count() == 1
    assert console.axe() == []
    console.screenshot("push-messages")
    assert console.errors == []


def test_a_scheduled_message_is_cancelled(console, console_api):
    user_id = _user(console_api)
    console.goto("/console/push/")
    page = console.page
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    _send(page, user_id, title="Tomorrow's digest", send_at=later)
    assert "scheduled" in page.locator("#notification-heading").inner_text()
    page.get_by_role("button", name="Cancel message").click()
    page.wait_for_load_state("networkidle")
    assert "Message cancelled." in page.locator(".messages").inner_text()
    assert "cancelled" in page.locator("#notification-heading").inner_text()
    assert page.get_by_role("button", name="Cancel message").count() == 0
    assert console.errors == []


def test_send_errors_show_next_to_the_field(console):
    console.goto("/console/push/")
    page = console.page
    page.fill("#push-target", "someone")
    page.fill("#push-title", "Hi")
    page.fill("#push-data", '{"count": 3}')
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert "text values" in page.locator("#push-data-error").inner_text()
    assert page.locator("#push-data").get_attribute("aria-invalid") == "true"
    assert page.locator("#push-title").input_value() == "Hi"
    assert console.axe() == []
    assert console.dialogs == []


def test_topic_rules_are_created_edited_and_deleted(console):
    topic = unique("news").replace("_", "-") + "-*"
    console.goto("/console/push/topics/")
    page = console.page
    page.fill("#topic-name", XSS)
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    assert "A topic name is" in page.locator("#topic-name-error").inner_text()
    assert page.locator("#topic-name").input_value() == XSS
    page.fill("#topic-name", topic)
    page.fill("#topic-rule", "@request.auth.id != ''")
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("#push-topics tr", has_text=topic)
    assert row.locator("code.rule").inner_text() == "@request.auth.id != ''"
    assert console.axe() == []
    console.screenshot("push-topics")

    row.get_by_role("button", name=f"Edit {topic}").click()
    dialog = page.locator("dialog[open]")
    dialog.locator("textarea").fill(XSS)
    dialog.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert "Invalid expression" in page.locator("[role=alert]").inner_text()
    row = page.locator("#push-topics tr", has_text=topic)
    row.get_by_role("button", name=f"Edit {topic}").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Superusers only (no rule)").check()
    dialog.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("#push-topics tr", has_text=topic)
    assert row.locator(".rule.none").inner_text() == "superusers only"

    row.get_by_role("button", name=f"Delete {topic}").click()
    page.locator("dialog[open]").get_by_role("button", name="Delete").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#push-topics tr", has_text=topic).count() == 0
    assert console.errors == []


def test_a_device_without_a_configured_provider_fails_with_the_reason(
    console, console_api
):
    email = f"{unique('phone')}@example.com"
    created = console_api.post(
        "/api/v1/collections/users/records",
        {"email": email, "password": "a long user password"},
    )
    assert created.status_code in (200, 201), created.text
    user_id = created.json()["id"]
    member = servers.login(console_api.base_url, email, "a long user password")
    device = member.post(
        "/api/v1/push/devices",
        {"platform": "fcm", "token": "fcm-token-" + "x" * 20, "app_version": XSS},
    )
    assert device.status_code == 201, device.text

    console.goto("/console/push/")
    page = console.page
    _send(page, user_id, title="Your order shipped")
    deadline = time.monotonic() + 60
    while "done" not in page.locator("#notification-heading").inner_text():
        assert time.monotonic() < deadline, "the message was never finished"
        time.sleep(1)
        page.reload()
    row = page.locator("#message-results tbody tr")
    assert row.count() == 1
    assert "failed" in row.inner_text()
    assert "FCM is not configured" in row.locator("td.reason").inner_text()
    assert console.axe() == []
    console.screenshot("push-message-failed")

    console.goto("/console/push/devices/?platform=fcm")
    devices = page.locator("#push-devices tr", has_text=email)
    assert devices.count() == 1
    assert XSS in devices.inner_text()
    assert console.axe() == []
    console.screenshot("push-devices")
    assert console.errors == []


def test_the_push_page_fits_a_tablet_in_the_dark_theme(console):
    page = console.page
    page.set_viewport_size({"width": 800, "height": 1100})
    console.goto("/console/push/")
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.click("[data-theme-toggle]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert console.axe() == []
    console.screenshot("push-tablet-dark")
    assert console.errors == []
