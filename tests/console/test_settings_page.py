"""The settings page in a browser: the configuration, no secret in the page."""

from __future__ import annotations

from pathlib import Path


def test_settings_show_the_configuration_without_secrets(console, console_server):
    _, env = console_server
    secret = (Path(env["BAAS_DATA_DIR"]) / "secret_key").read_text().strip()
    console.goto("/console/settings/")
    page = console.page
    assert page.locator("h1").inner_text() == "Settings"
    html = page.content()
    assert secret and secret not in html
    assert "PRIVATE KEY" not in html
    assert page.get_by_role("heading", name="Database").is_visible()
    page.fill("#test-email-to", "ops@example.com")
    page.get_by_role("button", name="Send test").click()
    page.wait_for_load_state("networkidle")
    assert (
        "Test email to ops@example.com queued" in page.locator(".messages").inner_text()
    )
    assert console.axe() == []
    console.screenshot("settings")
    assert console.errors == []
