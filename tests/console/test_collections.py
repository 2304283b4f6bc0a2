"""Collections in the browser: create with several field types, edit the schema with a
preview of failing rows, rename, delete with typed confirmation, import with a diff, the
API tab, and every user-controlled string rendered as text."""

from __future__ import annotations

import json

from tests.console.conftest import unique

XSS = ["<img src=x onerror=alert(1)>", '"><script>alert(1)</script>']
COLLECTIONS = "/api/v1/collections"


def _create(api, name: str, fields: list[dict], **extra) -> dict:
    response = api.post(COLLECTIONS, {"name": name, "fields": fields, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def _record(api, name: str, data: dict) -> dict:
    response = api.post(f"{COLLECTIONS}/{name}/records", data)
    assert response.status_code == 201, response.text
    return response.json()


def _add_field(page, name: str, type_name: str, options: dict | None = None) -> None:
    index = page.locator("[data-field-count]").input_value()
    page.click("[data-add-field]")
    page.fill(f"#f{index}-name", name)
    page.select_option(f"#f{index}-type", type_name)
    for option, value in (options or {}).items():
        selector = f"#f{index}-{type_name}-{option}"
        if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
            page.select_option(selector, value)
        else:
            page.fill(selector, value)


def _preview(console) -> None:
    console.page.click("#schema-form button[type=submit]")
    console.page.wait_for_selector("#preview .preview-card")
    console.settled()


def test_create_a_collection_with_several_field_types(console, console_api):
    page = console.page
    target = unique("authors")
    _create(console_api, target, [{"name": "name", "type": "text"}])
    name = unique("books")
    console.goto("/console/collections/")
    page.click("text=New collection")
    page.fill("#create-name", name)
    page.click("#create-dialog button[type=submit]")
    page.wait_for_url(f"**/console/collections/{name}/schema/")
    _add_field(page, "title", "text", {"max": "200"})
    _add_field(page, "pages", "number", {"min": "1"})
    _add_field(page, "published", "bool")
    _add_field(page, "genre", "select", {"values": "novel\npoetry\nessay"})
    _add_field(page, "released", "date")
    _add_field(page, "extra", "json")
    _add_field(page, "author", "relation", {"collection": target})
    page.check("#f0-required")
    _preview(console)
    preview = page.locator("#preview")
    assert "title" in preview.inner_text()
    assert "No stored record is affected." in preview.inner_text()
    page.click("#preview button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "updated" in page.locator(".messages").inner_text()
    fields = console_api.get(f"{COLLECTIONS}/{name}").json()["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("title", "text"),
        ("pages", "number"),
        ("published", "bool"),
        ("genre", "select"),
        ("released", "date"),
        ("extra", "json"),
        ("author", "relation"),
    ]
    assert fields[0]["required"] and fields[0]["options"]["max"] == 200
    assert fields[3]["options"]["values"] == ["novel", "poetry", "essay"]
    assert console.axe() == []
    console.screenshot("collections-schema")
    console.goto("/console/collections/")
    row = page.locator(f"tr[data-collection={name}]")
    assert row.locator("td").nth(2).inner_text() == "7"
    assert console.axe() == []
    console.screenshot("collections-list")
    assert console.errors == []


def test_the_preview_shows_failing_rows_before_a_change(console, console_api):
    page = console.page
    name = unique("tickets")
    _create(
        console_api,
        name,
        [{"name": "code", "type": "text"}, {"name": "note", "type": "text"}],
    )
    ok = _record(console_api, name, {"code": "12", "note": "fine"})
    bad = _record(console_api, name, {"code": XSS[0], "note": ""})
    worse = _record(console_api, name, {"code": XSS[1]})
    console.goto(f"/console/collections/{name}/schema/")
    page.select_option("#f0-type", "number")
    page.check("#f1-required")
    _preview(console)
    preview = page.locator("#preview")
    text = preview.inner_text()
    assert "Apply would fail" in text
    assert bad["id"] in text and worse["id"] in text and ok["id"] not in text
    assert XSS[0] in text and XSS[1] in text  # shown as text, not markup
    assert preview.locator("img").count() == 0
    assert "2 records" in text  # the unconvertible codes, and the empty notes
    assert preview.locator("form").count() == 0  # no Apply while it would fail
    assert console.axe() == []
    console.screenshot("collections-schema-preview")
    # A safe change: rename `note`, keep `code` text.
    console.goto(f"/console/collections/{name}/schema/")
    page.fill("#f1-name", "remark")
    _preview(console)
    assert "note → remark" in preview.inner_text().replace("  ", " ")
    page.click("#preview button[type=submit]")
    page.wait_for_load_state("networkidle")
    fields = console_api.get(f"{COLLECTIONS}/{name}").json()["fields"]
    assert [f["name"] for f in fields] == ["code", "remark"]
    stored = console_api.get(f"{COLLECTIONS}/{name}/records/{ok['id']}").json()
    assert stored["remark"] == "fine"
    assert console.errors == []


def test_rename_then_delete_with_typed_confirmation(console, console_api):
    page = console.page
    name, new_name = unique("old"), unique("new")
    _create(console_api, name, [{"name": "title", "type": "text"}])
    console.goto("/console/collections/")
    row = page.locator(f"tr[data-collection={name}]")
    row.locator("button[data-open-dialog^=rename]").click()
    dialog = row.locator("dialog").first
    dialog.locator("input[name=name]").fill(new_name)
    dialog.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert console_api.get(f"{COLLECTIONS}/{new_name}").status_code == 200
    row = page.locator(f"tr[data-collection={new_name}]")
    row.locator("button[data-open-dialog^=delete]").click()
    dialog = row.locator("dialog").nth(1)
    submit = dialog.locator("[data-confirm-submit]")
    assert submit.is_disabled()
    dialog.locator("input[name=confirm]").fill(new_name[:-1])
    assert submit.is_disabled()
    dialog.locator("input[name=confirm]").fill(new_name)
    assert submit.is_enabled()
    submit.click()
    page.wait_for_load_state("networkidle")
    assert console_api.get(f"{COLLECTIONS}/{new_name}").status_code == 404
    assert page.locator(f"tr[data-collection={new_name}]").count() == 0
    assert console.errors == []


def test_import_a_schema_with_the_diff_shown_first(console, console_api):
    page = console.page
    name = unique("imported")
    document = {
        "version": 1,
        "collections": [
            {
                "name": name,
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "level", "type": "select", "options": {"values": XSS}},
                ],
            }
        ],
    }
    console.goto("/console/collections/")
    page.click("text=Import schema")
    page.fill("#import-document", json.dumps(document))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-result .import-diff")
    console.settled()
    result = page.locator("#import-result").inner_text()
    assert name in result and "create" in result and "level" in result
    assert console_api.get(f"{COLLECTIONS}/{name}").status_code == 404
    assert console.axe() == []
    console.screenshot("collections-import", full_page=False)
    page.click("text=Apply import")
    page.wait_for_url("**/console/collections/")
    page.wait_for_load_state("networkidle")
    assert "imported" in page.locator(".messages").inner_text()
    assert page.locator(f"tr[data-collection={name}]").count() == 1
    assert console.errors == []


def test_the_api_tab_shows_snippets_with_the_real_field_names(console, console_api):
    page = console.page
    name = unique("posts")
    _create(
        console_api,
        name,
        [{"name": "headline", "type": "text"}, {"name": "score", "type": "number"}],
    )
    console.goto(f"/console/collections/{name}/api/")
    for snippet in ("curl", "js", "python"):
        code = page.locator(f"#snippet-{snippet}").inner_text()
        assert "headline" in code and name in code
    assert f"client.collection('{name}')" in page.locator("#snippet-js").inner_text()
    assert (
        f'client.collection("{name}")' in page.locator("#snippet-python").inner_text()
    )
    assert console.axe() == []
    console.screenshot("collections-api")
    assert console.errors == []


def test_markup_in_every_free_text_string_renders_as_text(console, console_api):
    page = console.page
    target = unique("xss")
    rule = f"id != '{XSS[0]}' && id != '{XSS[1]}'"
    _create(
        console_api,
        target,
        [
            {"name": "kind", "type": "select", "options": {"values": XSS}},
            {
                "name": "body",
                "type": "text",
                "options": {"pattern": XSS[0]},
                "rules": {"read": rule, "write": rule},
            },
            {"name": "when", "type": "date"},
        ],
        rules={"list": rule, "view": rule},
    )
    record = _record(console_api, target, {"kind": XSS[1]})
    assert record["id"]
    for path in ("", f"{target}/schema/", f"{target}/api/"):
        console.goto(f"/console/collections/{path}")
        assert page.locator("main img").count() == 0
        assert page.locator("main script").count() == 0
    console.goto(f"/console/collections/{target}/schema/")
    assert page.locator("#f0-select-values").input_value() == "\n".join(XSS)
    assert page.locator("#f1-text-pattern").input_value() == XSS[0]
    assert XSS[1] in page.locator("#definition").input_value()
    page.select_option("#f0-type", "text")
    _preview(console)
    assert XSS[1] in page.locator("#preview").inner_text()
    assert page.locator("#preview img, #preview script").count() == 0
    assert console.errors == []


def test_invalid_changes_and_documents_show_their_errors_in_place(console, console_api):
    page = console.page
    name = unique("errors")
    _create(console_api, name, [{"name": "title", "type": "text"}])
    console.goto(f"/console/collections/{name}/schema/")
    page.fill("#f0-text-max", "-1")
    page.click("#schema-form button[type=submit]")
    alert = page.locator("#preview [role=alert]")
    alert.wait_for()
    assert "field title" in alert.inner_text()
    assert "max must not be negative" in alert.inner_text()
    assert "max must not be negative" in page.locator("#f0-errors").inner_text()
    page.fill("#f0-text-max", "10")
    page.click("#schema-form button[type=submit]")
    page.wait_for_selector("#preview .preview-card >> text=Apply")
    assert page.locator("#f0-errors").inner_text() == ""
    console.goto("/console/collections/")
    page.click("text=Import schema")
    page.fill("#import-document", '{"collections": "nope"}')
    page.click("#import-form button[type=submit]")
    alert = page.locator("#import-result [role=alert]")
    alert.wait_for()
    assert "collections" in alert.inner_text()
    assert console.axe() == []
    assert console.errors == []


def test_the_schema_and_api_pages_fit_a_tablet_in_the_dark_theme(console, console_api):
    page = console.page
    name = unique("tablet")
    _create(
        console_api,
        name,
        [
            {"name": "title", "type": "text"},
            {"name": "kind", "type": "select", "options": {"values": ["a", "b"]}},
        ],
        indexes=[{"fields": ["title"], "unique": True}],
    )
    page.evaluate("localStorage.setItem('baas-theme', 'dark')")
    page.set_viewport_size({"width": 820, "height": 1180})
    for path in ("schema/", "api/"):
        console.goto(f"/console/collections/{name}/{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 820, path
        assert console.axe() == [], path
    console.goto(f"/console/collections/{name}/schema/")
    page.click("[data-add-field]")
    page.fill("#f2-name", "extra")
    _preview(console)
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    assert console.axe() == []
    console.screenshot("collections-schema-tablet-dark")
    assert console.errors == []
