"""The records import in a browser: a CSV of 1,000 rows streams its progress into the
page's <progress> bar and live status text, then the result (refused rows' errors as
text) replaces it."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import expect

from tests.console.conftest import unique

XSS = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'
ROWS = 1000


def axe(console) -> list[dict]:
    """console.axe() without the CSP reports axe's own inline-style probes cause."""
    before = len(console.errors)
    violations = console.axe()
    console.errors[before:] = [
        e for e in console.errors[before:] if "Applying inline style" not in e
    ]
    return violations


def test_a_large_csv_import_shows_progress_then_the_result(
    console, console_api, tmp_path
):
    items = unique("items")
    created = console_api.post(
        "/api/v1/collections",
        {
            "name": items,
            "fields": [
                {"name": "title", "type": "text", "required": True},
                {"name": "n", "type": "number"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["title", "n"])
    for n in range(1, ROWS + 1):
        # every 100th row is refused (no title); one title is markup, shown as text
        title = "" if n % 100 == 0 else (XSS if n == 7 else f"item {n}")
        writer.writerow([title, n if n != 555 else "lots"])
    upload = tmp_path / "items.csv"
    upload.write_text(buffer.getvalue())

    page = console.page
    console.goto(f"/console/collections/{items}/records/import/")
    assert axe(console) == []
    page.set_input_files("#import-file", str(upload))
    page.click("#import-form button[type=submit]")

    # The bar moves while the server works: values between 0 and the total are seen.
    bar = page.locator("#import-bar")
    seen = set()
    for _ in range(600):
        value = bar.get_attribute("value")
        if value is not None:
            seen.add(int(float(value)))
        if page.locator("#import-result").count():
            break
        page.wait_for_timeout(25)
    assert any(0 < v < ROWS for v in seen), seen

    result = page.locator("#import-result")
    expect(result).to_contain_text("989 of 1,000 rows created, 11 refused.")
    expect(bar).to_have_attribute("value", str(ROWS))
    expect(bar).to_have_attribute("max", str(ROWS))
    status = page.inner_text("#import-progress")
    assert "Done: 1,000 of 1,000 rows (989 created, 11 refused)." in status
    rows = result.locator("tbody tr")
    expect(rows).to_have_count(11)
    assert rows.first.inner_text().split("\t")[0] == "100"
    assert "title: This field is required." in rows.first.inner_text()
    assert "n: " in result.locator("tbody tr", has_text="555").inner_text()
    assert page.locator("#import-form button[type=submit]").is_enabled()
    assert axe(console) == []
    console.screenshot("records-import-progress")

    listed = console_api.get(
        f"/api/v1/collections/{items}/records?filter=n%20%3D%207"
    ).json()["items"]
    assert listed[0]["title"] == XSS  # created, and shown as text (no dialog, no error)
    assert console.errors == []


def test_an_import_refused_before_it_starts_says_why(console, console_api, tmp_path):
    items = unique("items")
    created = console_api.post(
        "/api/v1/collections",
        {"name": items, "fields": [{"name": "title", "type": "text"}]},
    )
    assert created.status_code == 201, created.text
    upload = tmp_path / "bad.json"
    upload.write_text('[{"title": ')
    page = console.page
    console.goto(f"/console/collections/{items}/records/import/")
    page.set_input_files("#import-file", str(upload))
    page.click("#import-form button[type=submit]")
    alert = page.locator("#import-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("The file is not valid JSON")
    assert page.locator("#import-progress-box").is_hidden()
    assert page.locator("#import-result").count() == 0
    assert axe(console) == []
    assert console.errors == []
