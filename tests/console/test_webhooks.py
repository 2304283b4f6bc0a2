"""The webhooks pages in the browser: a private URL refused in place, a webhook created
(its secret shown once), the delivery log filled by a record write (the endpoint does not
resolve, so the delivery waits for its retry with the error shown), a delivery's detail
and redelivery, edit and delete; markup in the URL and filter renders as text. Each
page passes axe and is photographed."""

from __future__ import annotations

import time

import pytest

from tests.console.conftest import unique

XSS = '<img src=x onerror=alert(1)>"><script>'
# spaces are refused in a URL: the same markup with slashes for spaces
URL = 'https://hooks.invalid/in/<img/src=x/onerror=alert(1)>"><script>'


@pytest.fixture
def collection(console_api) -> str:
    name = unique("hooked")
    created = console_api.post(
        "/api/v1/collections",
        {"name": name, "fields": [{"name": "title", "type": "text"}]},
    )
    assert created.status_code == 201, created.text
    return name


def test_create_watch_deliveries_redeliver_edit_and_delete(
    console, console_api, collection
):
    page = console.page
    console.goto("/console/webhooks/")
    assert console.axe() == []
    page.get_by_role("link", name="New webhook").first.click()
    page.wait_for_load_state("networkidle")

    page.fill("#w-url", "http://127.0.0.1/hook")
    page.fill("#w-events", f"{collection}.*")
    page.fill("#w-filter", f"title != '{XSS}!'")
    page.get_by_role("button", name="Create webhook").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#url-error").is_visible()  # the SSRF refusal, in place
    assert page.locator("#w-url").get_attribute("aria-invalid") == "true"
    assert page.locator("#w-filter").input_value() == f"title != '{XSS}!'"
    assert console.axe() == []
    console.screenshot("webhooks-form-refused")

    page.fill("#w-url", URL)
    page.get_by_role("button", name="Create webhook").click()
    page.wait_for_load_state("networkidle")
    secret = page.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    assert page.get_by_role("button", name="Copy").is_visible()
    assert console.axe() == []
    console.screenshot("webhooks-created")

    page.get_by_role("link", name="Done, go to the webhook").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == URL  # as text
    assert secret not in page.content()
    webhook_url = page.url

    written = console_api.post(
        f"/api/v1/collections/{collection}/records", {"title": XSS}
    )
    assert written.status_code == 201, written.text
    deadline = time.monotonic() + 60
    while True:
        console.goto(webhook_url.removeprefix(console.base_url))
        rows = page.locator("table.grid tbody tr")
        if rows.count() and rows.first.locator("td").nth(3).inner_text() != "0":
            break  # the first attempt was made
        assert time.monotonic() < deadline, "no delivery attempt"
        time.sleep(1)
    row = rows.first
    assert f"{collection}.create" in row.inner_text()
    assert row.locator(".badge").inner_text() in ("pending", "failed")
    assert console.axe() == []
    console.screenshot("webhooks-detail")

    row.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    assert XSS in page.locator("#payload").inner_text().replace('\\"', '"')
    assert console.axe() == []
    console.screenshot("webhooks-delivery")
    page.get_by_role("button", name="Redeliver now").click()
    page.wait_for_load_state("networkidle")
    assert "Redelivery queued." in page.locator(".messages").inner_text()

    console.goto(webhook_url.removeprefix(console.base_url))
    page.get_by_role("link", name="Edit").click()
    page.wait_for_load_state("networkidle")
    page.fill("#w-events", f"{collection}.create, {collection}.delete")
    page.get_by_role("button", name="Save webhook").click()
    page.wait_for_load_state("networkidle")
    assert "Webhook saved." in page.locator(".messages").inner_text()
    assert f"{collection}.delete" in page.locator(".facts").inner_text()

    page.get_by_role("button", name="Pause").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".facts .badge").inner_text() == "Paused"
    console.goto("/console/webhooks/")
    listed = page.locator("tr", has=page.get_by_role("link", name=URL))
    assert listed.locator(".badge").inner_text() == "Paused"
    assert XSS in listed.inner_text()  # the filter, as text
    console.screenshot("webhooks-list")

    listed.get_by_role("link", name=URL).click()
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Delete webhook").click()
    page.wait_for_load_state("networkidle")
    assert "Webhook deleted" in page.locator(".messages").inner_text()
    assert page.get_by_role("link", name=URL).count() == 0
    assert console.errors == []
