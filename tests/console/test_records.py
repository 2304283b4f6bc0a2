"""The records grid and editor in a browser: add, inline edit, filter, sort, pages,
columns, bulk delete, export, import, live updates, and user values shown as text."""

from __future__ import annotations

import csv
import io
import json

import pytest
from playwright.sync_api import expect

from tests.console.conftest import unique

XSS = '<img src=x onerror=alert(1)>"><script>alert(2)</script>'


def make_collections(api) -> tuple[str, str]:
    """(posts, authors): posts with several field types and a relation to authors."""
    authors, posts = unique("authors"), unique("posts")
    created = api.post(
        "/api/v1/collections",
        {"name": authors, "fields": [{"name": "name", "type": "text"}]},
    )
    assert created.status_code == 201, created.text
    created = api.post(
        "/api/v1/collections",
        {
            "name": posts,
            "fields": [
                {"name": "title", "type": "text", "required": True},
                {"name": "views", "type": "number"},
                {"name": "draft", "type": "bool"},
                {
                    "name": "status",
                    "type": "select",
                    "options": {"values": ["open", "closed", XSS]},
                },
                {
                    "name": "tags",
                    "type": "select",
                    "options": {"values": ["a", "b"], "multiple": True},
                },
                {"name": "meta", "type": "json"},
                {"name": "when", "type": "date"},
                {
                    "name": "author",
                    "type": "relation",
                    "options": {"collection": authors},
                },
            ],
        },
    )
    assert created.status_code == 201, created.text
    return posts, authors


def add(api, collection: str, **data) -> dict:
    response = api.post(f"/api/v1/collections/{collection}/records", data)
    assert response.status_code in (200, 201), response.text
    return response.json()


def axe(console) -> list[dict]:
    """console.axe(), leaving out what axe's own probes cause: it sets inline styles
    that the page's CSP refuses and reports (and leaves `style=""` attributes, which
    htmx's settling would copy later: reload the page after it before using htmx)."""
    before = len(console.errors)
    violations = console.axe()
    console.errors[before:] = [
        e for e in console.errors[before:] if "Applying inline style" not in e
    ]
    return violations


@pytest.fixture
def world(console_api):
    return make_collections(console_api)


def test_add_a_record_with_the_editor(console, console_api, world):
    posts, authors = world
    author = add(console_api, authors, name=XSS)
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    page.click("text=New record")
    page.wait_for_load_state("networkidle")
    page.fill("#f-title", "Hello from the editor")
    page.fill("#f-views", "12")
    page.check("#f-draft")
    page.select_option("#f-status", "open")
    page.check("input[name=tags][value=b]")
    page.fill("#f-meta", "{not json")
    assert "Not valid JSON" in page.inner_text("[data-json-status]")
    page.fill("#f-meta", '{"nested": [1, 2]}')
    page.fill("#f-when", "2026-03-04T05:06:07")
    page.fill("#q-author", "img")
    page.wait_for_selector("button[data-pick]")
    assert XSS in page.inner_text(".picker-options")  # shown as text
    page.click("button[data-pick]")
    assert page.input_value("#f-author") == author["id"]
    assert axe(console) == []
    console.screenshot("records-editor")
    page.click("button[type=submit]:has-text('Create')")
    page.wait_for_load_state("networkidle")
    assert "Created record" in page.inner_text(".messages")
    items = console_api.get(f"/api/v1/collections/{posts}/records").json()["items"]
    assert len(items) == 1
    item = items[0]
    assert item["title"] == "Hello from the editor" and item["views"] == 12
    assert item["draft"] is True and item["tags"] == ["b"]
    assert item["meta"] == {"nested": [1, 2]} and item["author"] == author["id"]
    assert item["when"].startswith("2026-03-04T05:06:07")
    assert console.errors == []


def test_editor_shows_service_errors_next_to_fields(console, world):
    posts, _ = world
    page = console.page
    console.goto(f"/console/collections/{posts}/records/new/")
    page.fill("#f-views", "1e999")
    page.click("button[type=submit]:has-text('Create')")
    page.wait_for_load_state("networkidle")
    assert "required" in page.inner_text("#e-title")
    assert page.get_attribute("#f-title", "aria-invalid") == "true"


def test_the_grid_edits_inline_filters_sorts_and_pages(console, console_api, world):
    posts, _ = world
    for n in range(55):
        add(console_api, posts, title=f"post {n:02d}", views=n, status="open")
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    assert page.locator("tbody tr").count() == 50
    assert "55 records" in page.inner_text(".pager")
    assert axe(console) == []
    console.screenshot("records-grid")
    console.goto(f"/console/collections/{posts}/")  # axe leaves style="" behind

    # sort by views ascending, then page on
    page.click("th a.sort-link:has-text('views')")
    page.wait_for_url("**sort=views**")
    page.wait_for_selector("th[aria-sort=ascending]")
    assert page.inner_text("tbody tr:first-child td[data-field=title]") == "post 00"
    page.click("a[rel=next]")
    page.wait_for_url("**cursor=**")
    expect(page.locator("tbody tr")).to_have_count(5)
    assert page.inner_text("tbody tr:last-child td[data-field=title]") == "post 54"

    # inline edit of a text value, then a refused number
    cell = page.locator("tbody tr:first-child td[data-field=title]")
    cell.locator("button.cell-edit").click()
    cell.locator("input[name=value]").fill(XSS)
    cell.locator("button:has-text('Save')").click()
    page.wait_for_selector(
        "tbody tr:first-child td[data-field=title] button[data-saved]"
    )
    assert cell.inner_text() == XSS
    views = page.locator("tbody tr:first-child td[data-field=views]")
    views.locator("button.cell-edit").click()
    views.locator("input[name=value]").fill("lots")
    views.locator("button:has-text('Save')").click()
    page.wait_for_selector("tbody tr:first-child td[data-field=views] .field-error")
    console.settled()
    views.locator("input[name=value]").press("Escape")  # back to the value
    expect(views.locator("button.cell-edit")).to_be_focused(timeout=15_000)
    assert views.inner_text() == "50"

    # a filter, and a bad one with its position
    console.goto(f"/console/collections/{posts}/")
    page.fill("#filter", "views >= 50")
    expect(page.locator("tbody tr")).to_have_count(5)
    assert "filter=views" in page.url
    page.fill("#filter", "views >= ")
    page.wait_for_selector("#filter-error .field-error")
    assert "position" in page.inner_text("#filter-error")
    assert console.errors == []


def test_choose_columns_is_remembered_in_the_url(console, console_api, world):
    posts, _ = world
    add(console_api, posts, title="one", views=1)
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    page.click("summary:has-text('Columns')")
    for name in ("views", "draft", "status", "tags", "meta", "when", "author"):
        page.uncheck(f"#column-form input[value={name}]")
    for name in ("created", "updated"):
        page.uncheck(f"#column-form input[value={name}]")
    page.click("#column-form button:has-text('Apply')")
    page.wait_for_url("**col=title**")
    page.wait_for_selector("td[data-field=title]")
    headers = [h.lower() for h in page.locator("thead th").all_inner_texts()]
    assert any(h.startswith("title") for h in headers)
    assert not any(h.startswith("views") for h in headers)
    console.goto(page.url.replace(console.base_url, ""))  # bookmarked
    assert page.locator("td[data-field=views]").count() == 0
    assert page.locator("td[data-field=title]").count() == 1


def test_bulk_delete(console, console_api, world):
    posts, _ = world
    ids = [add(console_api, posts, title=f"gone {n}")["id"] for n in range(3)]
    keep = add(console_api, posts, title="kept")["id"]
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    for record_id in ids:
        page.check(f'input[name=ids][value="{record_id}"]')
    assert "3 records selected" in page.inner_text("#bulk-bar")
    page.click("text=Delete selected")
    assert page.is_visible("#bulk-dialog")
    page.click("#bulk-dialog button:has-text('Delete')")
    page.wait_for_load_state("networkidle")
    assert "Deleted 3 records." in page.inner_text(".messages")
    items = console_api.get(f"/api/v1/collections/{posts}/records").json()["items"]
    assert [i["id"] for i in items] == [keep]


def test_export_csv_and_json_and_import_csv(console, console_api, world, tmp_path):
    posts, _ = world
    for n in range(3):
        add(console_api, posts, title=f"row {n}", meta={"n": n}, tags=["a"])
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    with page.expect_download() as info:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert sorted(r["title"] for r in rows) == ["row 0", "row 1", "row 2"]
    with page.expect_download() as info:
        page.click("text=Export JSON")
    items = json.loads(info.value.path().read_text())
    assert len(items) == 3
    assert "Export finished" in page.inner_text("#export-progress")

    upload = tmp_path / "import.csv"
    upload.write_text(
        'title,views,tags,meta\nimported,7,"[""b""]","{""k"": 1}"\n,1,,\n'
    )
    page.click("text=Import")
    page.wait_for_load_state("networkidle")
    page.set_input_files("#import-file", str(upload))
    page.click("button:has-text('Import')")
    page.wait_for_load_state("networkidle")
    result = page.inner_text("#import-result")
    assert "1 of 2 rows created" in result
    assert "title: This field is required." in result
    assert axe(console) == []
    console.screenshot("records-import")
    found = console_api.get(
        f"/api/v1/collections/{posts}/records?filter=title%20%3D%20%27imported%27"
    ).json()["items"]
    assert found[0]["views"] == 7 and found[0]["tags"] == ["b"]
    assert console.errors == []


def test_a_record_created_over_the_api_appears_live(console, console_api, world):
    posts, _ = world
    doomed = add(console_api, posts, title="doomed")
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    page.wait_for_selector("#records[data-live=on]", timeout=10_000)
    add(console_api, posts, title="live one")
    assert (
        console_api.delete(
            f"/api/v1/collections/{posts}/records/{doomed['id']}"
        ).status_code
        == 204
    )
    page.wait_for_selector("#live-bar:not([hidden])", timeout=10_000)
    page.wait_for_selector(f'tr.gone[data-id="{doomed["id"]}"]', timeout=10_000)
    expect(page.locator("#live-text")).to_contain_text("1 new")
    page.click("#live-refresh")
    page.wait_for_load_state("networkidle")
    assert "live one" in page.inner_text("tbody")
    assert console.errors == []


def test_record_values_render_as_text(console, console_api, world):
    posts, authors = world
    author = add(console_api, authors, name=XSS)
    add(
        console_api,
        posts,
        title=XSS,
        status=XSS,
        meta={"html": XSS},
        author=author["id"],
    )
    page = console.page
    console.goto(f"/console/collections/{posts}/")
    row = page.locator("tbody tr").first
    assert row.locator("td[data-field=title]").inner_text() == XSS
    assert row.locator("td[data-field=status]").inner_text() == XSS
    assert XSS.replace('"', '\\"') in row.inner_text()  # inside the JSON text
    assert page.locator("img[src=x]").count() == 0
    console.goto(f"/console/collections/{authors}/")
    assert page.locator("td[data-field=name]").inner_text() == XSS
    page.locator("td.id-cell a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.input_value("#f-name") == XSS
    assert page.locator("img[src=x]").count() == 0
    assert console.errors == []


def test_the_grid_on_a_tablet_in_the_dark_theme(console, console_api, world):
    posts, _ = world
    for n in range(5):
        add(console_api, posts, title=f"tablet {n}", views=n, meta={"n": n})
    page = console.page
    page.set_viewport_size({"width": 800, "height": 1000})
    console.goto(f"/console/collections/{posts}/")
    page.click("[data-theme-toggle]")
    if page.evaluate("document.documentElement.dataset.theme") != "dark":
        page.click("[data-theme-toggle]")
    assert page.locator("tbody tr").count() == 5
    # the wide table scrolls inside its wrapper, the page itself does not
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert axe(console) == []
    console.screenshot("records-grid-tablet-dark")
    console.goto(f"/console/collections/{posts}/records/new/")
    assert axe(console) == []
    console.screenshot("records-editor-tablet-dark")
    assert console.errors == []
