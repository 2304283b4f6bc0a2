"""The files page in a browser: a file uploaded over the API is listed with its
thumbnail and totals, downloads for the superuser, and its hostile name is text."""

from __future__ import annotations

import io

from PIL import Image

from tests.console.conftest import unique

XSS = '<img src=x onerror=alert(1)>"><script>'


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 220)).save(out, "PNG")
    return out.getvalue()


def test_an_uploaded_file_is_listed_shown_and_downloaded(console, console_api):
    name = unique("album")
    created = console_api.post(
        "/api/v1/collections",
        {
            "name": name,
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "photo", "type": "file", "options": {"protected": True}},
                {"name": "doc", "type": "file"},
            ],
        },
    )
    assert created.status_code == 201, created.text
    records = f"{console_api.base_url}/api/v1/collections/{name}/records"
    record = console_api.session.post(
        records,
        data={"title": "holiday"},
        files={
            "photo": (f"{XSS}.png", _png(), "image/png"),
            "doc": ("notes.txt", b"plain text notes\n", "text/plain"),
        },
        timeout=30,
    )
    assert record.status_code == 201, record.text
    stored = record.json()["photo"]

    console.goto(f"/console/files/?collection={name}")
    page = console.page
    assert page.locator("#files-count").inner_text() == "2"
    row = page.locator("tr", has_text=stored)
    assert row.count() == 1
    assert row.locator("td.file-name").inner_text() == stored
    assert page.locator("table img:not(.file-thumb)").count() == 0
    loaded = row.locator("img.file-thumb").evaluate(
        "img => img.complete && img.naturalWidth"
    )
    assert loaded == 96
    assert console.axe() == []
    console.screenshot("files-list")
    with page.expect_download() as info:
        row.get_by_role("link", name=f"Download {stored}").click()
    download = info.value
    assert download.suggested_filename == stored
    assert open(download.path(), "rb").read() == _png()
    assert console.errors == []


def test_the_files_page_fits_a_tablet(console):
    page = console.page
    page.set_viewport_size({"width": 800, "height": 1000})
    console.goto("/console/files/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert console.axe() == []
    console.screenshot("files-tablet")
    assert console.errors == []
