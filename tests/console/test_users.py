"""The Users pages in a browser: search, open, end a session, disable (the API then
refuses the sign-in), enable, delete with typed confirmation; hostile strings as text."""

from __future__ import annotations

import re
import secrets

import requests

from tests.console.conftest import Console

PASSWORD = "a long member password"
XSS_AGENT = 'Phone <img src=x onerror=alert(1)> "><script>alert(2)</script>'


def make_user(console_api, email: str) -> str:
    created = console_api.post(
        "/api/v1/collections/users/records", {"email": email, "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    return created.json()["id"]


def api_login(url: str, email: str, agent: str = "Phone/1.0") -> requests.Response:
    return requests.post(
        url + "/api/v1/auth/login",
        json={"email": email, "password": PASSWORD},
        headers={"User-Agent": agent},
        timeout=10,
    )


def refresh(url: str, token: str) -> int:
    return requests.post(
        url + "/api/v1/tokens/refresh", json={"refresh_token": token}, timeout=10
    ).status_code


def test_search_open_end_a_session_disable_enable_and_delete_a_user(
    console: Console, console_api
):
    page, url = console.page, console.base_url
    tag = secrets.token_hex(3)
    email = f"member-{tag}@example.com"
    user_id = make_user(console_api, email)
    for n in range(3):
        make_user(console_api, f"neighbour{n}-{tag}@example.net")
    signed_in = api_login(url, email)
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()["meta"]

    console.goto("/console/users/")
    assert page.title() == "Users · BaaS console"
    page.fill("#user-search", tag)
    page.wait_for_url(re.compile(rf"q={tag}"))
    results = page.locator("#users-results tbody tr")
    results.first.wait_for()
    assert results.count() == 4
    assert console.axe() == []
    console.screenshot("users-list")
    page.fill("#user-search", f"member-{tag}")
    page.locator("#users-results tbody tr").nth(1).wait_for(state="detached")
    assert page.locator("#users-results tbody tr").count() == 1

    page.get_by_role("link", name=email).click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/console/users/{user_id}/")
    assert page.locator("h1").inner_text() == email
    assert page.locator("#sessions-h + .hint + .table-wrap tbody tr").count() == 1
    assert console.axe() == []
    console.screenshot("users-detail")

    # End the device session: its refresh token is refused at once.
    page.get_by_role("button", name=re.compile("^End session")).click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").inner_text() == "The session was ended."
    assert refresh(url, tokens["refresh_token"]) == 401
    assert page.get_by_text("No active sessions.").is_visible()

    # Disable: the API refuses the sign-in; enable: it works again.
    api_login(url, email)
    page.get_by_role("button", name="Disable account").click()
    page.wait_for_load_state("networkidle")
    assert "disabled" in page.locator(".messages").inner_text()
    assert page.locator(".badges .badge.danger").inner_text() == "Disabled"
    assert api_login(url, email).status_code != 200
    page.get_by_role("button", name="Enable account").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").inner_text() == "The account is enabled."
    assert api_login(url, email).status_code == 200

    # Delete with typed confirmation.
    page.get_by_role("button", name="Delete account…").click()
    submit = page.locator("#delete-user [data-confirm-submit]")
    assert submit.is_disabled()
    page.fill("#delete-confirm", email[:-1])
    assert submit.is_disabled()
    page.fill("#delete-confirm", email)
    assert submit.is_enabled()
    submit.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/console/users/")
    assert page.locator(".messages").inner_text() == (
        f"The account {email} was deleted."
    )
    assert api_login(url, email).status_code != 200
    assert console.errors == []


def test_the_signed_in_superuser_cannot_disable_or_delete_themselves(
    console: Console,
):
    page = console.page
    console.goto("/console/users/?q=owner%40example.com")
    page.get_by_role("link", name="owner@example.com", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("This is your own account").is_visible()
    assert page.get_by_role("button", name="Disable account").count() == 0
    assert page.get_by_role("button", name="Delete account…").count() == 0
    assert console.errors == []


def test_hostile_emails_and_devices_render_as_text(console: Console, console_api):
    page, url = console.page, console.base_url
    tag = secrets.token_hex(3)
    script_email = f'"\\"><script>alert(1)</script>{tag}"@example.com'
    img_email = f'"<img\\ src=x\\ onerror=alert(1)>{tag}"@example.com'
    make_user(console_api, script_email)
    user_id = make_user(console_api, img_email)
    assert api_login(url, img_email, agent=XSS_AGENT).status_code == 200

    console.goto(f"/console/users/?q={tag}")
    links = page.locator("#users-results tbody a")
    assert sorted(links.all_inner_texts()) == sorted([script_email, img_email])
    console.goto(f"/console/users/{user_id}/")
    assert page.locator("h1").inner_text() == img_email
    assert page.locator("#sessions-h ~ .table-wrap td.cell").inner_text() == (XSS_AGENT)
    assert page.locator("main img, main script").count() == 0
    page.get_by_role("button", name="Delete account…").click()
    page.fill("#delete-confirm", img_email)
    page.locator("#delete-user [data-confirm-submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").inner_text() == (
        f"The account {img_email} was deleted."
    )
    assert console.dialogs == [] and console.errors == []


def test_the_user_pages_fit_a_tablet_in_the_dark_theme(console: Console, console_api):
    page, url = console.page, console.base_url
    email = f"tablet-{secrets.token_hex(3)}@example.com"
    user_id = make_user(console_api, email)
    api_login(url, email, agent="Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)")
    page.set_viewport_size({"width": 800, "height": 1000})
    console.goto("/console/users/")
    page.click("[data-theme-toggle]")
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.click("[data-theme-toggle]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert console.axe() == []
    console.goto(f"/console/users/{user_id}/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert console.axe() == []
    console.screenshot("users-detail-tablet-dark")
