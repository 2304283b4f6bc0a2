"""The records pages in-process (Django's test client with a console session): the grid,
filter errors, sort, columns, cursor pages, inline edit, the editor, bulk delete, export,
import and the realtime token."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.collections.services import collection_create
from apps.records.records import record_create, record_get

pytestmark = pytest.mark.usefixtures("schema_db")

XSS = ["<img src=x onerror=alert(1)>", '"><script>alert(1)</script>']


@pytest.fixture
def console(console_client) -> Client:
    return console_client


@pytest.fixture
def posts(superuser):
    collection_create(
        actor=superuser,
        data={"name": "authors", "fields": [{"name": "name", "type": "text"}]},
    )
    collection_create(
        actor=superuser,
        data={
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text", "required": True},
                {"name": "views", "type": "number"},
                {"name": "draft", "type": "bool"},
                {
                    "name": "status",
                    "type": "select",
                    "options": {"values": ["open", "closed"]},
                },
                {
                    "name": "tags",
                    "type": "select",
                    "options": {"values": ["a", "b", "c"], "multiple": True},
                },
                {"name": "meta", "type": "json"},
                {"name": "when", "type": "date"},
                {"name": "site", "type": "url"},
                {"name": "contact", "type": "email"},
                {
                    "name": "author",
                    "type": "relation",
                    "options": {"collection": "authors"},
                },
            ],
        },
    )
    return superuser


def add(actor, collection: str = "posts", **data) -> dict:
    return record_create(actor=actor, collection=collection, data=data)


def test_the_grid_lists_records_with_their_values_escaped(console, posts):
    add(posts, title=XSS[0], meta={"k": XSS[1]}, status="open", views=3)
    response = console.get("/console/collections/posts/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert XSS[0] not in html and "<script>alert" not in html
    assert "1 record" in html


def test_a_bad_filter_is_shown_in_place_with_its_position(console, posts):
    response = console.get("/console/collections/posts/", {"filter": "title = "})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Invalid filter" in html and "position" in html
    assert 'class="filter-caret"' in html


def test_an_htmx_filter_answers_the_grid_and_the_error_out_of_band(console, posts):
    add(posts, title="hello", status="open")
    add(posts, title="bye", status="closed")
    response = console.get(
        "/console/collections/posts/",
        {"filter": "status = 'open'"},
        headers={"HX-Request": "true", "HX-Target": "grid"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'hx-swap-oob="true"' in html
    assert "hello" in html and "bye" not in html


def test_sort_columns_and_cursor_pages(console, posts):
    for n in range(55):
        add(posts, title=f"t{n:02d}", views=n)
    first = console.get("/console/collections/posts/", {"sort": "views"})
    html = first.content.decode()
    assert "t00" in html and "t54" not in html
    assert 'rel="next"' in html and "55 records" in html
    cursor = html.split("cursor=")[1].split("&")[0].split('"')[0]
    second = console.get(
        "/console/collections/posts/", {"sort": "views", "cursor": cursor}
    ).content.decode()
    assert "t54" in second and "t00" not in second
    shown = console.get(
        "/console/collections/posts/", {"col": ["title"]}
    ).content.decode()
    assert 'data-field="title"' in shown and 'data-field="views"' not in shown


def test_inline_edit_saves_one_field_and_shows_errors(console, posts):
    record = add(posts, title="before", views=1)
    url = f"/console/collections/posts/records/{record['id']}/cell/"
    form = console.get(url + "title/")
    assert form.status_code == 200 and 'name="value"' in form.content.decode()
    saved = console.post(url + "title/", {"value": XSS[1]})
    assert saved.status_code == 200
    assert "&quot;&gt;&lt;script&gt;" in saved.content.decode()
    stored = record_get(actor=posts, collection="posts", record_id=record["id"])
    assert stored["title"] == XSS[1]
    refused = console.post(url + "views/", {"value": "many"})
    assert refused.status_code == 400
    assert "field-error" in refused.content.decode()
    assert console.post(url + "meta/", {"value": "{}"}).status_code == 404


def test_the_editor_creates_a_record_with_every_field_type(console, posts):
    author = add(posts, "authors", name=XSS[0])
    response = console.post(
        "/console/collections/posts/records/new/",
        {
            "title": "hello",
            "views": "42",
            "draft": "true",
            "status": "open",
            "tags": ["a", "c"],
            "meta": '{"x": [1, 2]}',
            "when": "2026-01-02T10:30",
            "site": "https://example.com",
            "contact": "a@example.com",
            "author": author["id"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    listed = console.get("/console/collections/posts/").content.decode()
    assert "hello" in listed
    from apps.records.records_list import record_list

    item = record_list(
        actor=posts, collection="posts", params={"filter": "title = 'hello'"}
    )["items"][0]
    assert item["views"] == 42 and item["draft"] is True
    assert item["tags"] == ["a", "c"] and item["meta"] == {"x": [1, 2]}
    assert item["when"].startswith("2026-01-02") and item["author"] == author["id"]
    edit = console.get(f"/console/collections/posts/records/{item['id']}/")
    assert edit.status_code == 200 and "hello" in edit.content.decode()


def test_editor_errors_are_shown_next_to_their_fields(console, posts):
    response = console.post(
        "/console/collections/posts/records/new/",
        {"title": "", "views": "x", "meta": "{bad", "status": ""},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="e-meta"' in html and "Not valid JSON" in html
    response = console.post(
        "/console/collections/posts/records/new/",
        {"title": "", "views": "x", "meta": "", "site": "nope"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="e-title"' in html and 'id="e-views"' in html and 'id="e-site"' in html


def test_the_relation_picker_searches_the_target_and_escapes_labels(console, posts):
    add(posts, "authors", name=XSS[0])
    add(posts, "authors", name="plain")
    response = console.get(
        "/console/collections/posts/records/pick/author/", {"q-author": "img"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "&lt;img src=x" in html and "plain" not in html


def test_bulk_delete(console, posts):
    a, b, c = (add(posts, title=t) for t in "abc")
    response = console.post(
        "/console/collections/posts/records/delete/", {"ids": [a["id"], b["id"]]}
    )
    assert response.status_code == 302
    listed = console.get("/console/collections/posts/").content.decode()
    assert "Deleted 2 records." in listed
    assert c["id"] in listed and a["id"] not in listed


def test_export_streams_csv_and_json(console, posts):
    for n in range(3):
        add(posts, title=f"row{n}", meta={"n": n}, tags=["a"])
    response = console.get("/console/collections/posts/records/export.csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and {r["title"] for r in rows} == {"row0", "row1", "row2"}
    assert json.loads(rows[0]["tags"]) == ["a"]
    response = console.get("/console/collections/posts/records/export.json")
    items = json.loads(b"".join(response.streaming_content))
    assert len(items) == 3 and items[0]["meta"]["n"] in (0, 1, 2)
    bad = console.get("/console/collections/posts/records/export.csv", {"filter": "("})
    assert bad.status_code == 400


def test_import_csv_and_json_reports_row_errors(console, posts):
    upload = SimpleUploadedFile(
        "posts.csv",
        b'title,views,tags,meta,draft\nok,3,"[""a""]","{""k"": 1}",true\n,4,,,\n',
        content_type="text/csv",
    )
    response = console.post(
        "/console/collections/posts/records/import/", {"file": upload}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>1</strong> of 2 rows created" in html
    assert "title: This field is required." in html
    upload = SimpleUploadedFile("posts.json", json.dumps([{"title": XSS[0]}]).encode())
    response = console.post(
        "/console/collections/posts/records/import/", {"file": upload}
    )
    assert "<strong>1</strong> of 1 row created" in response.content.decode()


STREAM = {"HTTP_ACCEPT": "application/x-ndjson"}
IMPORT_URL = "/console/collections/posts/records/import/"


def stream_lines(response) -> list[dict]:
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def csv_upload(rows: list[dict], name: str = "posts.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def posts_titled(actor, title: str) -> list[dict]:
    from apps.records.records_list import record_list

    params = {"filter": f"title = '{title}'", "limit": "500"}
    return record_list(actor=actor, collection="posts", params=params)["items"]


def test_a_streamed_import_reports_progress_then_the_summary(console, posts):
    rows = [{"title": f"row {n}", "views": str(n), "author": ""} for n in range(1, 251)]
    rows[4]["title"] = ""  # row 5: required
    rows[149]["author"] = "nosuchauthor123"  # row 150: a relation to nothing
    rows[199]["views"] = "many"  # row 200: not a number
    rows[249]["title"] = XSS[0]  # row 250: created, a value the page must escape
    response = console.post(IMPORT_URL, {"file": csv_upload(rows)}, **STREAM)
    assert response.status_code == 200
    lines = stream_lines(response)
    assert lines[0] == {"done": 0, "total": 250, "created": 0, "failed": 0}
    assert lines[1] == {"done": 100, "total": 250, "created": 99, "failed": 1}
    assert lines[2] == {"done": 200, "total": 250, "created": 197, "failed": 3}
    summary = lines[-1]
    assert len(lines) == 4
    assert summary["finished"] is True
    assert (summary["done"], summary["total"]) == (250, 250)
    assert (summary["created"], summary["failed"], summary["more_errors"]) == (
        247,
        3,
        0,
    )
    assert [e["row"] for e in summary["errors"]] == [5, 150, 200]
    assert summary["errors"][0]["errors"] == ["title: This field is required."]
    assert summary["errors"][1]["errors"][0].startswith("author: ")
    assert summary["errors"][2]["errors"][0].startswith("views: ")
    assert "error" not in summary and "stopped" not in summary
    # Nothing half-written for a refused row; every other row was created once.
    assert posts_titled(posts, "row 150") == []
    assert posts_titled(posts, "row 200") == []
    assert len(posts_titled(posts, "row 7")) == 1
    assert posts_titled(posts, XSS[0])[0]["views"] == 250
    from apps.records.records_list import record_list

    every = record_list(actor=posts, collection="posts", params={"limit": "500"})
    assert len(every["items"]) == 247


def test_a_streamed_import_caps_the_errors_it_lists(console, posts, monkeypatch):
    monkeypatch.setattr("admin_ui.views.records.MAX_IMPORT_ERRORS", 2)
    upload = SimpleUploadedFile("posts.json", json.dumps([{"views": 1}] * 5).encode())
    lines = stream_lines(console.post(IMPORT_URL, {"file": upload}, **STREAM))
    summary = lines[-1]
    assert (summary["created"], summary["failed"]) == (0, 5)
    assert [e["row"] for e in summary["errors"]] == [1, 2]
    assert summary["more_errors"] == 3


def test_a_server_fault_stops_the_stream_with_a_final_line(console, posts, monkeypatch):
    from admin_ui.views import records as views

    real = views.record_create
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real(**kwargs)

    monkeypatch.setattr(views, "record_create", flaky)
    rows = [{"title": f"t{n}"} for n in range(5)]
    upload = SimpleUploadedFile("posts.json", json.dumps(rows).encode())
    summary = stream_lines(console.post(IMPORT_URL, {"file": upload}, **STREAM))[-1]
    assert summary["finished"] and summary["stopped"] == 3
    assert (summary["done"], summary["created"]) == (2, 2)
    assert "row 3" in summary["error"] and "disk on fire" not in summary["error"]
    assert len(calls) == 3  # nothing after the fault


def test_a_streamed_import_refuses_a_bad_file_before_it_starts(
    console, posts, monkeypatch
):
    response = console.post(IMPORT_URL, {}, **STREAM)
    assert response.status_code == 400
    assert response.json() == {"error": "Choose a CSV or JSON file to import."}
    upload = SimpleUploadedFile("posts.json", b"[{")
    response = console.post(IMPORT_URL, {"file": upload}, **STREAM)
    assert response.status_code == 400
    assert response.json()["error"].startswith("The file is not valid JSON")
    monkeypatch.setattr("admin_ui.views.records.MAX_IMPORT_ROWS", 3)
    upload = SimpleUploadedFile("posts.json", json.dumps([{"title": "x"}] * 4).encode())
    response = console.post(IMPORT_URL, {"file": upload}, **STREAM)
    assert response.status_code == 400
    assert response.json() == {"error": "At most 3 rows per import."}
    assert posts_titled(posts, "x") == []
    # The form without the script: the page, with the limit in place.
    upload = SimpleUploadedFile("posts.json", json.dumps([{"title": "x"}] * 4).encode())
    response = console.post(IMPORT_URL, {"file": upload})
    assert response.status_code == 400
    assert "At most 3 rows per import." in response.content.decode()


def test_a_streamed_import_needs_the_csrf_token(superuser, posts):
    from admin_ui.access import CONSOLE_SESSION_KEY

    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    session = client.session
    session[CONSOLE_SESSION_KEY] = str(superuser.pk)
    session.save()
    page = client.get(IMPORT_URL)
    assert page.status_code == 200
    upload = SimpleUploadedFile("posts.json", json.dumps([{"title": "csrf"}]).encode())
    response = client.post(IMPORT_URL, {"file": upload}, **STREAM)
    assert response.status_code == 403
    assert posts_titled(superuser, "csrf") == []
    token = page.cookies["csrftoken"].value
    upload = SimpleUploadedFile("posts.json", json.dumps([{"title": "csrf"}]).encode())
    response = client.post(
        IMPORT_URL, {"file": upload}, HTTP_X_CSRFTOKEN=token, **STREAM
    )
    assert stream_lines(response)[-1]["created"] == 1
    assert len(posts_titled(superuser, "csrf")) == 1


def test_the_realtime_token_is_an_access_token_for_the_console_session(console, posts):
    from apps.accounts.authentication import BearerAuthentication

    response = console.post("/console/realtime-token/")
    assert response.status_code == 200
    token = response.json()["token"]
    user, _ = BearerAuthentication()._authenticate_jwt(token)
    assert user.pk == posts.pk
    assert Client().post("/console/realtime-token/").status_code == 403


def test_pages_refuse_anyone_but_the_console_superuser(posts):
    assert Client().get("/console/collections/posts/").status_code == 302
    assert (
        Client().post("/console/collections/posts/records/delete/").status_code == 403
    )


def test_a_missing_collection_is_a_404(console, posts):
    assert console.get("/console/collections/nope/").status_code == 404


def test_the_editor_of_an_auth_collection_sets_email_and_password(console, posts):
    response = console.post(
        "/console/collections/users/records/new/",
        {"email": "member@example.com", "password": "short"},
    )
    assert response.status_code == 400
    assert 'id="e-password"' in response.content.decode()
    response = console.post(
        "/console/collections/users/records/new/",
        {"email": "member@example.com", "password": "a long member password"},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    from django.contrib.auth import authenticate

    assert authenticate(email="member@example.com", password="a long member password")
    listed = console.get("/console/collections/users/").content.decode()
    assert "member@example.com" in listed


def test_the_editor_uploads_and_removes_files(console, superuser):
    collection_create(
        actor=superuser,
        data={
            "name": "docs",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "files", "type": "file", "options": {"multiple": True}},
            ],
        },
    )
    upload = SimpleUploadedFile(XSS[0] + ".txt", b"hello", content_type="text/plain")
    response = console.post(
        "/console/collections/docs/records/new/", {"title": "a", "files": [upload]}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    from apps.records.records_list import record_list

    item = record_list(actor=superuser, collection="docs", params={})["items"][0]
    assert len(item["files"]) == 1
    page = console.get(f"/console/collections/docs/records/{item['id']}/")
    html = page.content.decode()
    assert item["files"][0] in html and XSS[0] not in html
    response = console.post(
        f"/console/collections/docs/records/{item['id']}/",
        {"title": "a", "files-": [item["files"][0]]},
    )
    assert response.status_code == 302
    again = record_get(actor=superuser, collection="docs", record_id=item["id"])
    assert again["files"] == []
