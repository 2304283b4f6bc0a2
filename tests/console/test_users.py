"""The Users pages in a browser: search, open, end a session, disable (the API then
refuses the sign-in), enable, delete with typed confirmation, send a password reset email
(then the reset page, as the user); hostile strings as text."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path

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


def mailed_reset_link(console_server, email: str, timeout: float = 30) -> str:
    """The reset link of the newest mail to `email`: the test server's mail backend is
    `console`, so its worker prints each mail to the server's stdout (servers.serving
    logs it to <data dir>/serve.stdout)."""
    _, env = console_server
    stdout = Path(env["BAAS_DATA_DIR"]) / "serve.stdout"
    pattern = re.compile(
        rf"^To: {re.escape(email)}$.*?(http://\S+/account/reset/[^/\s]+/)", re.M | re.S
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.findall(stdout.read_text(errors="replace"))
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no reset mail to {email} in {stdout}")


def test_an_operator_sends_a_password_reset_the_user_sets_a_new_password(
    console: Console, console_api, console_server
):
    page, url = console.page, console.base_url
    email = f"forgetful-{secrets.token_hex(3)}@example.com"
    user_id = make_user(console_api, email)

    console.goto(f"/console/users/{user_id}/")
    page.get_by_role("button", name="Send password reset email").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/console/users/{user_id}/")
    assert (
        "password reset email is on its way" in page.locator(".messages").inner_text()
    )

    link = mailed_reset_link(console_server, email)
    assert link.startswith(url + "/account/reset/")
    console.goto(link.removeprefix(url))
    assert page.url == url + "/account/reset/set-password/"  # the key left the URL
    assert page.locator("h1").inner_text() == "Choose a new password"
    assert console.axe() == []
    console.screenshot("users-reset-page")

    page.fill("#password1", "short")
    page.fill("#password2", "short")
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_load_state("networkidle")
    assert "too short" in page.locator("#password1-error").inner_text()
    assert console.axe() == []

    new_password = "a brand new member password"
    page.fill("#password1", new_password)
    page.fill("#password2", new_password)
    page.get_by_role("button", name="Set new password").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Password changed"
    assert console.axe() == []
    console.screenshot("users-reset-done")

    signed_in = requests.post(
        url + "/api/v1/auth/login",
        json={"email": email, "password": new_password},
        timeout=10,
    )
    assert signed_in.status_code == 200, signed_in.text
    assert api_login(url, email).status_code != 200  # the old password
    # The link is spent.
    response = console.goto(link.removeprefix(url))
    assert response.status == 400
    assert page.locator("h1").inner_text() == "This link does not work"
    assert console.axe() == []
    assert console.errors == []
