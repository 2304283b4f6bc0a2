"""Collections console pages in-process: create, rename, delete, schema preview and
apply, import, API snippets, and errors shown in place (never a 500)."""

from __future__ import annotations

import json

import pytest

from tests.collections.schema_helpers import add_record, create_collection

XSS = '<img src=x onerror=alert(1)>"><script>alert(1)</script>'

pytestmark = pytest.mark.usefixtures("schema_db")


def test_the_list_shows_collections_and_creates_one(console_client):
    page = console_client.get("/console/collections/")
    assert page.status_code == 200
    assert b"users" in page.content
    created = console_client.post("/console/collections/", {"name": "tasks"})
    assert created.status_code == 302
    assert created["Location"] == "/console/collections/tasks/schema/"
    assert b"tasks" in console_client.get("/console/collections/").content


def test_an_invalid_name_is_shown_in_place(console_client):
    page = console_client.post("/console/collections/", {"name": "9 bad"})
    assert page.status_code == 400
    assert b"field-error" in page.content
    taken = console_client.post("/console/collections/", {"name": "users"})
    assert taken.status_code in (400, 409)


def test_rename_and_typed_delete(console_client, admin):
    create_collection(admin, "drafts")
    console_client.post("/console/collections/drafts/rename/", {"name": "notes"})
    assert admin.get("/api/v1/collections/notes").status_code == 200
    kept = console_client.post("/console/collections/notes/delete/", {"confirm": "x"})
    assert kept.status_code == 302
    assert admin.get("/api/v1/collections/notes").status_code == 200
    console_client.post("/console/collections/notes/delete/", {"confirm": "notes"})
    assert admin.get("/api/v1/collections/notes").status_code == 404


def _form(collection: dict, **changes) -> dict:
    data = {"source": "form", "field_count": str(len(collection["fields"]))}
    for i, field in enumerate(collection["fields"]):
        data[f"f{i}-id"] = field["id"]
        data[f"f{i}-name"] = field["name"]
        data[f"f{i}-type"] = field["type"]
        for flag in ("required", "unique", "hidden"):
            if field[flag]:
                data[f"f{i}-{flag}"] = "on"
    for key, value in changes.items():
        data[key] = value
    return data


def test_the_field_form_previews_failing_rows_then_applies(console_client, admin):
    posts = create_collection(admin, "posts", fields=[{"name": "code", "type": "text"}])
    add_record(admin, "posts", {"code": "12"})
    bad = add_record(admin, "posts", {"code": XSS})
    url = "/console/collections/posts/schema/"
    assert console_client.get(url).status_code == 200
    preview = console_client.post(
        url + "preview/", _form(posts, **{"f0-type": "number"})
    )
    assert preview.status_code == 200
    html = preview.content.decode()
    assert bad["id"] in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "Apply would fail" in html
    safe = _form(
        posts,
        **{
            "f0-name": "label",
            "field_count": "2",
            "f1-name": "n",
            "f1-type": "number",
            "f1-number-min": "1",
        },
    )
    preview = console_client.post(url + "preview/", safe)
    html = preview.content.decode()
    assert "Apply" in html and "Apply would fail" not in html
    data = html.split('name="data" hidden aria-label="Change to apply">')[1].split(
        "</textarea>"
    )[0]
    import html as html_lib

    applied = console_client.post(url + "apply/", {"data": html_lib.unescape(data)})
    assert applied.status_code == 302
    fields = admin.get("/api/v1/collections/posts").json()["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("label", "text"),
        ("n", "number"),
    ]
    assert fields[1]["options"]["min"] == 1


def test_an_invalid_change_is_a_400_with_its_message(console_client, admin):
    posts = create_collection(admin, "posts", fields=[{"name": "code", "type": "text"}])
    url = "/console/collections/posts/schema/preview/"
    page = console_client.post(url, _form(posts, **{"f0-text-min": "abc"}))
    assert page.status_code == 400
    assert b"field code" in page.content
    page = console_client.post(url, {"source": "json", "definition": "{nope"})
    assert page.status_code == 400
    assert b"Not valid JSON" in page.content


def test_the_json_editor_previews_a_change(console_client, admin):
    create_collection(admin, "posts", fields=[{"name": "code", "type": "text"}])
    definition = {
        "fields": [{"name": "code", "type": "text"}, {"name": "x", "type": "bool"}]
    }
    page = console_client.post(
        "/console/collections/posts/schema/preview/",
        {"source": "json", "definition": json.dumps(definition)},
    )
    assert page.status_code == 200
    # `code` without its id is a new field: the old one is removed.
    assert b"remove" in page.content


def test_import_shows_the_diff_then_applies(console_client, admin):
    document = {
        "version": 1,
        "collections": [
            {"name": "imported", "fields": [{"name": "title", "type": "text"}]}
        ],
    }
    dry = console_client.post(
        "/console/collections/-/import/", {"document": json.dumps(document)}
    )
    assert dry.status_code == 200
    assert b"imported" in dry.content and b"Apply import" in dry.content
    assert admin.get("/api/v1/collections/imported").status_code == 404
    done = console_client.post(
        "/console/collections/-/import/",
        {"document": json.dumps(document), "apply": "1"},
    )
    assert done.status_code == 302
    assert admin.get("/api/v1/collections/imported").status_code == 200
    bad = console_client.post("/console/collections/-/import/", {"document": "[]"})
    assert bad.status_code == 400


def test_export_downloads_the_schema(console_client):
    response = console_client.get("/console/collections/-/export/")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(response.content)["collections"]


def test_the_api_tab_uses_the_real_field_names(console_client, admin):
    create_collection(
        admin,
        "posts",
        fields=[{"name": "title", "type": "text"}, {"name": "rank", "type": "number"}],
    )
    html = console_client.get("/console/collections/posts/api/").content.decode()
    assert "client.collection(&#x27;posts&#x27;)" in html
    assert "&quot;title&quot;" in html and "rank" in html
    assert "/api/v1/collections/posts/records" in html


def test_unknown_collections_are_404_pages(console_client):
    assert console_client.get("/console/collections/nope/schema/").status_code == 404
    assert console_client.get("/console/collections/nope/api/").status_code == 404
    assert (
        console_client.post("/console/collections/nope/schema/preview/", {}).status_code
        == 404
    )


def test_pages_refuse_anyone_but_the_console_superuser(schema_db, client):
    assert client.get("/console/collections/").status_code == 302
    assert client.post("/console/collections/", {"name": "x"}).status_code == 403


def test_json_editor_errors_name_the_field(console_client, admin):
    create_collection(admin, "posts", fields=[{"name": "code", "type": "text"}])
    definition = {"fields": [{"name": "code", "type": "text", "options": {"max": -1}}]}
    page = console_client.post(
        "/console/collections/posts/schema/preview/",
        {"source": "json", "definition": json.dumps(definition)},
    )
    assert page.status_code == 400
    assert b"field code" in page.content
    for body in ("[]", '{"fields": [1]}', '{"fields": [{"type": "text"}]}'):
        page = console_client.post(
            "/console/collections/posts/schema/preview/",
            {"source": "json", "definition": body},
        )
        assert page.status_code == 400, body


def test_a_change_shows_the_changed_options_one_by_one(console_client, admin):
    create_collection(
        admin, "posts", fields=[{"name": "code", "type": "text", "options": {"max": 9}}]
    )
    posts = admin.get("/api/v1/collections/posts").json()
    page = console_client.post(
        "/console/collections/posts/schema/preview/",
        _form(posts, **{"f0-text-max": "5", "f0-text-min": "1"}),
    )
    html = page.content.decode()
    assert "options.max <code>9</code> → <code>5</code>" in html
    assert "options.min <code>null</code> → <code>1</code>" in html
