"""The audit log in the browser: changes made through the API show up with their actor
and target, filters narrow them (errors in place), an entry's diff is laid out path by
path, and markup in names and values renders as text. Pages pass axe and are
photographed."""

from __future__ import annotations

from tests.console.conftest import unique
from tests.e2e import servers

XSS = '<img src=x onerror=alert(1)>"><script>'


def test_changes_are_listed_filtered_and_their_diff_shown(console, console_api):
    name = f"{unique('audited')} {XSS}"
    created = console_api.post(
        "/api/v1/schedules",
        {"name": name, "task": "baas.ping", "cron": "0 4 * * *", "args": [XSS]},
    )
    assert created.status_code == 201, created.text
    schedule = created.json()["id"]
    changed = console_api.patch(
        f"/api/v1/schedules/{schedule}", {"enabled": False, "cron": "30 4 * * *"}
    )
    assert changed.status_code == 200, changed.text
    console_api.delete(f"/api/v1/schedules/{schedule}")

    page = console.page
    console.goto("/console/audit/")
    assert console.axe() == []
    console.screenshot("audit-list")

    page.fill("#a-action", "schedule.*")
    page.fill("#a-actor", servers.EMAIL)
    page.fill("#a-target", f"schedule:{name}")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    rows = page.locator("table.grid tbody tr")
    actions = [
        rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())
    ]
    assert actions == ["schedule.delete", "schedule.update", "schedule.create"]
    assert name in rows.first.inner_text()  # the markup, as text
    assert servers.EMAIL in rows.first.inner_text()
    assert console.axe() == []
    console.screenshot("audit-filtered")

    rows.nth(1).locator("a").first.click()
    page.wait_for_load_state("networkidle")
    diff = page.locator("table.diff")
    assert diff.locator("th[scope=row]", has_text="enabled").count() == 1
    enabled = diff.locator("tr", has=page.locator("th", has_text="enabled"))
    assert enabled.locator("td").nth(0).inner_text() == "true"
    assert enabled.locator("td").nth(1).inner_text() == "false"
    assert diff.locator("th[scope=row]", has_text="cron").count() == 1
    page.locator("details.snapshots summary").click()
    assert XSS in page.locator("details.snapshots").inner_text().replace('\\"', '"')
    assert console.axe() == []
    console.screenshot("audit-entry")
    assert console.errors == []


def test_bad_filters_are_shown_in_place(console):
    page = console.page
    console.goto("/console/audit/")
    page.fill("#a-action", "Not an action")
    page.fill("#a-actor", "nobody-here@example.com")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#action-error").is_visible()
    assert "No user has this email." in page.locator("#actor-error").inner_text()
    assert page.locator("#a-actor").get_attribute("aria-invalid") == "true"
    assert console.axe() == []
    assert console.errors == []


def test_ops_pages_fit_a_tablet_in_the_dark_theme(console):
    """Jobs, schedules, webhooks and the audit log at 820 px, dark: no sideways page
    scroll (wide tables scroll inside their frame) and no axe violation."""
    page = console.page
    page.set_viewport_size({"width": 820, "height": 1180})
    console.goto("/console/")
    page.get_by_role("button", name="Switch between light and dark theme").click()
    for path, name in [
        ("/console/jobs/", "jobs"),
        ("/console/jobs/schedules/", "schedules"),
        ("/console/webhooks/", "webhooks"),
        ("/console/audit/", "audit"),
    ]:
        console.goto(path)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px: {wide}"
        assert console.axe() == [], path
        console.screenshot(f"ops-tablet-dark-{name}", full_page=False)
    assert console.errors == []
