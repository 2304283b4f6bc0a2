"""The console's frame in a browser: sign-in, navigation, themes, keyboard, accessibility."""

from __future__ import annotations

from tests.console.conftest import Console
from tests.e2e import servers


def test_a_superuser_signs_in_and_sees_the_overview(console):
    page = console.page
    assert page.title() == "Overview · BaaS console"
    assert page.locator("h1").inner_text() == "Overview"
    assert console.axe() == []
    console.screenshot("overview")
    assert console.errors == []


def test_wrong_credentials_and_app_users_do_not_open_the_console(
    anonymous_page, console_api
):
    console: Console = anonymous_page
    console.sign_in(servers.EMAIL, "wrong password")
    assert "/console/login/" in console.page.url
    assert console.page.locator("[role=alert]").inner_text() == (
        "These credentials cannot open the console."
    )
    email = "member@example.com"
    created = console_api.post(
        "/api/v1/collections/users/records",
        {"email": email, "password": "a long member password"},
    )
    assert created.status_code in (200, 201), created.text
    console.sign_in(email, "a long member password")
    assert "/console/login/" in console.page.url
    console.goto("/console/")
    assert "/console/login/" in console.page.url


def test_the_theme_switch_is_remembered(console):
    page = console.page
    before = page.evaluate("document.documentElement.dataset.theme")
    page.click("[data-theme-toggle]")
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    console.goto("/console/")
    assert page.evaluate("document.documentElement.dataset.theme") == after
    assert console.axe() == []
    console.screenshot(f"overview-{after}")


def test_the_page_starts_with_a_skip_link_to_the_content(console):
    page = console.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_changes_without_the_csrf_token_are_refused(console):
    """The signed-in browser's own cookies, but no token: every change is refused."""
    request = console.page.request
    for path in ("/console/logout/", "/console/collections/", "/console/keys/"):
        answer = request.post(console.base_url + path, form={"name": "sneaky"})
        assert answer.status == 403, path
    console.goto("/console/")
    assert console.page.locator("h1").inner_text() == "Overview"  # still signed in
    api = servers.login(console.base_url, servers.EMAIL, servers.PASSWORD)
    names = [key["name"] for key in api.get("/api/v1/apikeys").json()["items"]]
    assert "sneaky" not in names
