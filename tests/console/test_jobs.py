"""The jobs pages in the browser: a real failed run (a schedule of `baas.push.send` with
arguments it refuses, run by the server's embedded beat and worker), its detail
and a retry; schedules created, edited, paused and deleted; task arguments containing
markup render as text. Each page passes axe and is photographed."""

from __future__ import annotations

import json
import time

import pytest

from tests.console.conftest import unique

XSS = '<img src=x onerror=alert(1)>"><script>'
TASK = "baas.push.send"  # its first/last are ids: markup there fails the run at once


def wait_for(predicate, timeout: float = 60.0, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    pytest.fail("timed out waiting")


@pytest.fixture(scope="module")
def failed_run(console_api) -> dict:
    """A job run that failed for real, with markup in its arguments."""
    name = unique("failing")
    created = console_api.post(
        "/api/v1/schedules",
        {"name": name, "task": TASK, "every": 1, "args": [XSS, "fcm", XSS, XSS]},
    )
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]

    def failed():
        runs = console_api.get(f"/api/v1/jobs?task={TASK}&state=failed")
        items = [r for r in runs.json()["items"] if not r["retry_of"] and r["error"]]
        return items[0] if items else None

    try:
        return wait_for(failed, timeout=90)
    finally:
        console_api.delete(f"/api/v1/schedules/{schedule_id}")


def test_a_failed_run_is_listed_shown_and_retried(console, failed_run):
    page = console.page
    console.goto(f"/console/jobs/?state=failed&task={TASK}")
    row = page.locator(
        "tr", has=page.locator(f'a[href="/console/jobs/{failed_run["id"]}/"]')
    )
    assert row.locator(".badge.danger").inner_text() == "failed"
    assert "ValueError: Field 'id' expected a number" in row.inner_text()
    assert console.axe() == []
    console.screenshot("jobs-list")

    row.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == TASK
    args = json.loads(page.locator("pre").nth(1).inner_text())  # as text
    assert args == [XSS, "fcm", XSS, XSS]
    assert XSS in page.locator("pre.error-text").inner_text()
    assert console.axe() == []
    console.screenshot("jobs-detail")

    page.get_by_role("button", name="Retry").click()
    page.wait_for_load_state("networkidle")
    assert "The job was queued again." in page.locator(".messages").inner_text()
    assert page.get_by_role("link", name=failed_run["id"]).is_visible()  # retry of
    assert console.errors == []


def test_the_list_filters_and_shows_errors_in_place(console):
    page = console.page
    console.goto("/console/jobs/")
    page.fill("#filter-task", "not a task name")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert "A task name" in page.locator("#task-error").inner_text()
    assert page.locator("#filter-task").get_attribute("aria-invalid") == "true"
    page.select_option("#filter-state", "succeeded")
    page.fill("#filter-task", "baas.*")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert "state=succeeded" in page.url
    assert console.errors == []


def test_schedules_are_created_edited_paused_and_deleted(console):
    page = console.page
    name = unique("nightly")
    console.goto("/console/jobs/schedules/")
    assert console.axe() == []
    page.get_by_role("link", name="New schedule").click()
    page.wait_for_load_state("networkidle")
    page.fill("#s-name", name)
    page.select_option("#s-task", "baas.ping")
    page.fill("#s-cron", "61 * * * *")
    page.fill("#s-args", f'["{XSS.replace(chr(34), "")}"]')
    page.get_by_role("button", name="Create schedule").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#cron-error").is_visible()  # refused in place
    assert page.locator("#s-name").input_value() == name  # the form keeps its values
    assert console.axe() == []
    console.screenshot("jobs-schedule-form")

    page.fill("#s-cron", "0 3 * * *")
    page.get_by_role("button", name="Create schedule").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/console/jobs/schedules/")
    row = page.locator("tr", has_text=name)
    assert "cron 0 3 * * *" in row.inner_text()

    row.get_by_role("link", name="Edit").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#s-every").is_disabled()  # ops.js: the other timing is off
    page.check("input[name=timing][value=every]")
    assert page.locator("#s-cron").is_disabled()
    page.fill("#s-every", "3600")
    page.get_by_role("button", name="Save schedule").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("tr", has_text=name)
    assert "every 1 hour" in row.inner_text()

    row.get_by_role("button", name=f"Pause {name}").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("tr", has_text=name)
    assert "paused" in row.inner_text()
    console.screenshot("jobs-schedules")

    row.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_role("button", name="Delete schedule").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("tr", has_text=name).count() == 0
    assert console.errors == []
