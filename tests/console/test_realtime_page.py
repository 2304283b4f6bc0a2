"""The realtime page in a browser: channel CRUD, hostile names and rules as text, and
no made-up live numbers."""

from __future__ import annotations

from tests.console.conftest import unique
from tests.e2e import servers

XSS = '<img src=x onerror=alert(1)>"><script>'


def test_channels_are_created_edited_and_deleted(console):
    name = unique("room").replace("_", "-") + "-*"
    console.goto("/console/realtime/")
    page = console.page
    live = page.locator("#realtime-live").inner_text()
    if servers.postgres_profile():  # with Redis: the processes' heartbeats are counted
        assert "realtime processes serving clients" in live
    else:
        assert "cannot see them" in live

    page.fill("#channel-name", XSS)
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    assert "A channel name is" in page.locator("#channel-name-error").inner_text()
    page.fill("#channel-name", name)
    page.fill("#channel-new-subscribe", XSS)
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    assert (
        "Invalid expression"
        in page.locator("#channel-new-subscribe-error").inner_text()
    )
    assert page.locator("#channel-new-subscribe").input_value() == XSS
    page.fill("#channel-new-subscribe", "@request.auth.id != ''")
    page.locator("#channel-create-form").get_by_label("Superusers only").nth(1).check()
    page.locator("#channel-create-form").get_by_label("Presence").check()
    page.get_by_role("button", name="Create").click()
    page.wait_for_load_state("networkidle")
    row = page.locator("#realtime-channels tr", has_text=name)
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == "@request.auth.id != ''"
    assert cells.nth(2).inner_text() == "superusers only"
    assert cells.nth(3).inner_text() == "on"
    assert console.axe() == []
    console.screenshot("realtime")

    row.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label("Publish rule").fill("@channel.name != ''")
    dialog.get_by_label("Superusers only").nth(1).uncheck()
    dialog.get_by_label("Presence").uncheck()
    dialog.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    cells = page.locator("#realtime-channels tr", has_text=name).locator("td")
    assert cells.nth(2).inner_text() == "@channel.name != ''"
    assert cells.nth(3).inner_text() == "off"

    page.locator("#realtime-channels tr", has_text=name).get_by_role(
        "button", name=f"Delete {name}"
    ).click()
    page.locator("dialog[open]").get_by_role("button", name="Delete").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#realtime-channels tr", has_text=name).count() == 0
    assert console.errors == []
