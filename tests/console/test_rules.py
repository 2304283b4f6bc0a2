"""The rules tab in a browser: rules checked as typed (errors in place, with their
position), saved through the schema service, and the "test as" panel (who gets which
records, and why), with hostile record values shown as text."""

from __future__ import annotations

import secrets

import pytest

from tests.console.conftest import unique

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = '"><script>alert(2)</script>'


@pytest.fixture
def world(console_api):
    """A collection `notes_*` (title, owner -> users), two users and one record each."""
    name = unique("notes")
    created = console_api.post(
        "/api/v1/collections",
        {
            "name": name,
            "fields": [
                {"name": "title", "type": "text"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
            ],
        },
    )
    assert created.status_code == 201, created.text
    users = {}
    for who in ("alice", "bob"):
        email = f"{who}-{secrets.token_hex(3)}@example.com"
        response = console_api.post(
            "/api/v1/collections/users/records",
            {"email": email, "password": "a long test password"},
        )
        assert response.status_code in (200, 201), response.text
        users[who] = (response.json()["id"], email)
    records = {}
    for who, title in (("alice", f"alice {XSS_IMG}"), ("bob", f"bob {XSS_SCRIPT}")):
        response = console_api.post(
            f"/api/v1/collections/{name}/records",
            {"title": title, "owner": users[who][0]},
        )
        assert response.status_code == 201, response.text
        records[who] = response.json()["id"]
    return {"name": name, "users": users, "records": records}


def _wait_check(page, slot: str, valid: bool):
    """Wait for the check's answer and for rules.js to mark the textarea (on settle, after it)."""
    page.wait_for_selector(f'#{slot}-check[data-valid="{str(valid).lower()}"]')
    marked = (
        f'#{slot}[aria-invalid="true"]' if not valid else f"#{slot}:not([aria-invalid])"
    )
    page.wait_for_selector(marked)


def test_rules_are_checked_as_typed_and_saved(console, world):
    page = console.page
    console.goto(f"/console/collections/{world['name']}/rules/")
    assert page.locator(".tabs a[aria-current=page]").inner_text() == "Rules"
    assert page.locator("#rule-list").input_value() == ""
    assert page.locator("input[name=lock-list]").is_checked()

    page.locator("input[name=lock-list]").uncheck()
    page.locator("#rule-list").fill("title = 'x' && nope = 1")
    _wait_check(page, "rule-list", False)
    check = page.locator("#rule-list-check")
    assert "Line 1, column 16:" in check.inner_text()
    assert "no field 'nope'" in check.inner_text()
    assert page.locator("#rule-list").get_attribute("aria-invalid") == "true"
    caret = check.locator("pre.rule-caret").inner_text()
    assert caret.splitlines()[1] == " " * 15 + "^"
    assert console.axe() == []
    console.screenshot("rules-editor-error", full_page=False)
    page.click("[data-theme-toggle]")
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    assert console.axe() == []
    console.screenshot("rules-editor-error-dark", full_page=False)

    page.locator("#rule-list").fill("owner = @request.auth.id")
    _wait_check(page, "rule-list", True)
    assert page.locator("#rule-list").get_attribute("aria-invalid") is None
    assert "Valid expression" in page.locator("#rule-list-check").inner_text()
    assert page.locator("[data-rule-slot]").first.locator(".badge").inner_text() == (
        "Expression"
    )
    page.locator("input[name=lock-view]").uncheck()
    page.get_by_role("button", name="Save rules").first.click()
    page.wait_for_load_state("networkidle")
    assert "Rules saved." in page.locator(".messages").inner_text()
    assert page.locator("#rule-list").input_value() == "owner = @request.auth.id"
    assert not page.locator("input[name=lock-view]").is_checked()
    assert page.locator("input[name=lock-create]").is_checked()
    assert console.errors == []


def _run_test(page, email: str | None, action: str):
    if email is None:
        page.get_by_label("Anonymous (not signed in)").check()
    else:
        page.fill("#user-search", email)
        page.locator("#user-options label", has_text=email).wait_for()
        page.locator("#user-options label", has_text=email).locator("input").check()
    page.select_option("#test-action", action)
    page.evaluate("document.querySelector('#test-result').replaceChildren()")
    page.click("#run-test")
    page.wait_for_selector("#test-result [data-test-count]")
    page.wait_for_load_state("networkidle")


def _row(page, record_id: str):
    return page.locator(f'#test-result tr[data-record="{record_id}"]')


def test_test_as_shows_who_gets_what_and_why(console, console_api, world):
    page = console.page
    name, records = world["name"], world["records"]
    alice_id, alice_email = world["users"]["alice"]
    bob_id = world["users"]["bob"][0]
    response = console_api.patch(
        f"/api/v1/collections/{name}", {"rules": {"list": "owner = @request.auth.id"}}
    )
    assert response.status_code == 200, response.text
    console.goto(f"/console/collections/{name}/rules/")

    _run_test(page, alice_email, "list")
    assert _row(page, records["alice"]).get_attribute("class") == "allowed"
    assert _row(page, records["bob"]).get_attribute("class") == "denied"
    assert "1 of 2 records allowed." in page.locator("[data-test-count]").inner_text()
    # hostile values render as text
    cells = page.locator("#test-result td.cell")
    texts = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert f"alice {XSS_IMG}" in texts and f"bob {XSS_SCRIPT}" in texts
    assert page.locator("#test-result img, #test-result script").count() == 0

    page.evaluate("document.querySelector('#why-result').replaceChildren()")
    _row(page, records["bob"]).get_by_role("button").click()
    page.wait_for_selector("#why-result [data-why]")
    why = page.locator("#why-result")
    assert why.locator(".why-rule .badge").inner_text() == "fail"
    node = why.locator("li.why-node.fail")
    assert node.count() == 1
    values = node.locator(".why-value")
    assert [values.nth(0).inner_text(), values.nth(1).inner_text()] == [
        bob_id,
        alice_id,
    ]
    assert node.locator(".why-op").inner_text() == "="
    assert console.axe() == []
    page.evaluate(
        "document.querySelector('.test-panel').scrollIntoView();"
        " window.scrollBy(0, -64)"
    )
    console.screenshot("rules-test-panel-why", full_page=False)

    # change the rule in the editor: the panel's result changes
    page.locator("#rule-list").fill('owner = @request.auth.id || title ~ "bob"')
    _wait_check(page, "rule-list", True)
    page.get_by_role("button", name="Save rules").first.click()
    page.wait_for_load_state("networkidle")
    _run_test(page, alice_email, "list")
    assert "2 of 2 records allowed." in page.locator("[data-test-count]").inner_text()
    page.evaluate("document.querySelector('#why-result').replaceChildren()")
    _row(page, records["bob"]).get_by_role("button").click()
    page.wait_for_selector("#why-result [data-why]")
    tree = page.locator("#why-result .why-tree > li")
    assert tree.get_attribute("class") == "why-node pass"
    assert "any of these" in tree.locator(".why-combine").inner_text()

    _run_test(page, None, "list")  # a guest: only the title part can hold
    assert "1 of 2 records allowed." in page.locator("[data-test-count]").inner_text()

    page.set_viewport_size({"width": 800, "height": 1000})  # a tablet
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    console.screenshot("rules-tablet")
    assert console.errors == []
