"""The API keys page in a browser: create (shown once, copied, works against the API),
revoke (then refused); key names as text."""

from __future__ import annotations

import requests

from tests.console.conftest import Console, unique

XSS_NAME = '<img src=x onerror=alert(1)> "><script>alert(2)</script>'


def status_with_key(url: str, key: str) -> int:
    return requests.get(
        url + "/api/v1/collections/users/records",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    ).status_code


def test_create_a_key_use_it_and_revoke_it(console: Console):
    page, url = console.page, console.base_url
    name = unique("worker")
    console.goto("/console/keys/")
    assert page.title() == "API keys · BaaS console"
    assert console.axe() == []
    console.screenshot("keys-list")

    page.fill("#key-name", name)
    page.get_by_label("records:read").check()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state("networkidle")
    secret = page.locator("#new-key-secret").inner_text()
    assert secret.startswith("bk_")
    assert page.get_by_text("it will not be shown again").is_visible()
    assert console.axe() == []
    console.screenshot("keys-created")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy key").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    assert status_with_key(url, secret) == 200

    # Shown once: not on the page any more.
    console.goto("/console/keys/")
    assert secret not in page.content()
    row = page.locator("tr", has=page.get_by_text(name, exact=True))
    assert row.locator("td").nth(5).inner_text() != "Never"  # last used
    row.get_by_role("button", name=f"Revoke key {name}").click()
    dialog = page.get_by_role("dialog")
    assert name in dialog.inner_text()
    dialog.get_by_role("button", name="Revoke key").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").inner_text() == f"The key {name} was revoked."
    assert "Revoked" in row.inner_text()
    assert status_with_key(url, secret) == 401
    assert console.errors == []


def test_invalid_input_is_shown_next_to_the_field(console: Console):
    page = console.page
    console.goto("/console/keys/")
    page.fill("#key-name", unique("noscope"))
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state("networkidle")
    assert "Unknown or missing scopes" in page.locator("#key-scopes-error").inner_text()
    assert page.locator("#new-key-secret").count() == 0
    assert console.axe() == []
    assert console.errors == []


def test_hostile_key_names_render_as_text(console: Console):
    page = console.page
    console.goto("/console/keys/")
    name = f"{XSS_NAME} {unique('k')}"
    page.fill("#key-name", name)
    page.get_by_label("jobs").check()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#created-h").inner_text() == f"Key “{name}” created"
    console.goto("/console/keys/")
    assert page.get_by_text(name, exact=True).count() == 1
    assert page.locator("main img, main script").count() == 0
    assert console.dialogs == [] and console.errors == []


def test_the_keys_page_fits_a_tablet_in_the_dark_theme(console: Console):
    page = console.page
    page.set_viewport_size({"width": 800, "height": 1000})
    console.goto("/console/keys/")
    page.click("[data-theme-toggle]")
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.click("[data-theme-toggle]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert console.axe() == []
    console.screenshot("keys-tablet-dark")
