"""File fields over HTTP: upload with the record, download, replace, remove, delete.

Runs on the configured storage: the data directory (SQLite profile) or the S3-compatible
server that scripts/test starts (PostgreSQL profile).
"""

from __future__ import annotations

import pytest

from apps.files.models import StoredFile
from tests.files.helpers import (
    RECORDS,
    body_of,
    file_url,
    jpeg,
    png,
    rows,
    stored_keys,
    upload,
)

pytestmark = pytest.mark.usefixtures("schema_db")

FIELDS = [
    {"name": "title", "type": "text"},
    {"name": "views", "type": "number"},
    {
        "name": "avatar",
        "type": "file",
        "options": {
            "mime_types": ["image/*"],
            "max_size": 100_000,
            "thumbs": ["20x20"],
        },
    },
    {"name": "docs", "type": "file", "options": {"multiple": True, "max_select": 3}},
]


@pytest.fixture
def posts(admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "posts",
            "fields": FIELDS,
            "rules": {"list": "", "view": "", "create": "", "update": "", "delete": ""},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def create(client, data, **extra):
    return client.post(RECORDS.format("posts"), data, format="multipart", **extra)


def update(client, record_id, data):
    return client.patch(
        f"{RECORDS.format('posts')}/{record_id}", data, format="multipart"
    )


def test_a_file_uploaded_with_the_record_is_served_back_byte_for_byte(posts, anon):
    content = png()
    response = create(
        anon,
        {"title": "hello", "views": "3", "avatar": upload("me.png", content)},
    )
    assert response.status_code == 201, response.content
    record = response.json()
    assert record["title"] == "hello" and record["views"] == 3
    name = record["avatar"]
    assert name.startswith("me_") and name.endswith(".png")
    got = anon.get(file_url("posts", record["id"], name))
    assert got.status_code == 200
    assert body_of(got) == content
    assert got["Content-Type"] == "image/png"
    assert got["Content-Disposition"].startswith("inline")
    assert got["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got["Content-Security-Policy"]
    assert got["Cache-Control"].startswith("public")
    assert got["ETag"] and got["Last-Modified"]


def test_json_payload_carries_the_other_values(posts, anon):
    response = create(
        anon,
        {"@jsonPayload": '{"title": "t", "views": 7}', "docs": [upload("a.txt", b"a")]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["views"] == 7
    assert len(response.json()["docs"]) == 1


def test_ranges_and_validators(posts, anon):
    content = bytes(range(256)) * 4
    record = create(anon, {"docs": [upload("data.bin", content)]}).json()
    url = file_url("posts", record["id"], record["docs"][0])
    part = anon.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert body_of(part) == content[10:20]
    assert part["Content-Range"] == f"bytes 10-19/{len(content)}"
    tail = anon.get(url, HTTP_RANGE="bytes=-5")
    assert body_of(tail) == content[-5:]
    assert anon.get(url, HTTP_RANGE="bytes=5000-").status_code == 416
    full = anon.get(url)
    again = anon.get(url, HTTP_IF_NONE_MATCH=full["ETag"])
    assert again.status_code == 304
    stale = anon.get(url, HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"other"')
    assert stale.status_code == 200
    head = anon.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(len(content))


def test_the_field_types_judge_the_bytes_not_the_name(posts, anon):
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    response = create(anon, {"avatar": upload("cat.png", html)})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "file_type_not_allowed"
    assert response.json()["errors"][0]["param"] == "avatar"
    assert rows() == [] and stored_keys(posts["id"]) == set()


def test_a_file_over_max_size_is_413_and_nothing_is_kept(posts, anon):
    response = create(anon, {"avatar": upload("big.png", png() + b"\0" * 100_001)})
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "file_too_large"
    assert rows() == [] and stored_keys(posts["id"]) == set()


def test_multiple_files_append_remove_and_keep(
    posts, anon, django_capture_on_commit_callbacks
):
    record = create(
        anon, {"docs": [upload("a.txt", b"a"), upload("b.txt", b"b")]}
    ).json()
    a, b = record["docs"]
    with django_capture_on_commit_callbacks(execute=True):
        added = update(anon, record["id"], {"docs+": [upload("c.txt", b"c")]}).json()
    assert added["docs"][:2] == [a, b] and len(added["docs"]) == 3
    c = added["docs"][2]
    with django_capture_on_commit_callbacks(execute=True):
        removed = update(anon, record["id"], {"docs-": a})
    assert removed.status_code == 200, removed.content
    assert removed.json()["docs"] == [b, c]
    assert anon.get(file_url("posts", record["id"], a)).status_code == 404
    assert not any(key.endswith(a) for key in stored_keys(posts["id"]))
    kept = anon.patch(
        f"{RECORDS.format('posts')}/{record['id']}", {"docs": [c]}, format="json"
    )
    assert kept.json()["docs"] == [c]
    unknown = anon.patch(
        f"{RECORDS.format('posts')}/{record['id']}",
        {"docs": ["notmine_aaaaaaaaaa.txt"]},
        format="json",
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "unknown_file"


def test_max_select_limits_the_files(posts, anon):
    files = [upload(f"{i}.txt", b"x") for i in range(4)]
    response = create(anon, {"docs": files})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "too_many_files"
    assert rows() == [] and stored_keys(posts["id"]) == set()


def test_replacing_a_file_removes_the_old_object(
    posts, anon, django_capture_on_commit_callbacks
):
    record = create(anon, {"avatar": upload("one.png", png())}).json()
    old = record["avatar"]
    with django_capture_on_commit_callbacks(execute=True):
        new = update(anon, record["id"], {"avatar": upload("two.jpg", jpeg())}).json()
    assert new["avatar"] != old and new["avatar"].startswith("two_")
    assert [r.name for r in rows()] == [new["avatar"]]
    assert not any(key.endswith(old) for key in stored_keys(posts["id"]))
    with django_capture_on_commit_callbacks(execute=True):
        cleared = anon.patch(
            f"{RECORDS.format('posts')}/{record['id']}", {"avatar": None}, format="json"
        )
    assert cleared.json()["avatar"] is None
    assert rows() == [] and stored_keys(posts["id"]) == set()


def test_deleting_the_record_deletes_its_files(
    posts, anon, django_capture_on_commit_callbacks
):
    record = create(
        anon, {"avatar": upload("one.png", png()), "docs": [upload("d.txt", b"d")]}
    ).json()
    originals = {k for k in stored_keys(posts["id"]) if "/thumbs_" not in k}
    assert len(originals) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            anon.delete(f"{RECORDS.format('posts')}/{record['id']}").status_code == 204
        )
    assert rows() == [] and stored_keys(posts["id"]) == set()


def test_a_refused_write_keeps_no_file(admin, anon):
    locked = admin.post(
        "/api/v1/collections",
        {
            "name": "locked",
            "fields": [{"name": "f", "type": "file"}, {"name": "ok", "type": "bool"}],
            "rules": {"create": "@request.body.ok = true"},
        },
        format="json",
    ).json()
    response = anon.post(
        RECORDS.format("locked"),
        {"f": upload("x.txt", b"x"), "ok": "false"},
        format="multipart",
    )
    assert response.status_code == 403
    assert rows() == [] and stored_keys(locked["id"]) == set()


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\win.ini",
        "nul\x00byte.txt",
        "x" * 300 + ".txt",
        "x.html.",
    ],
)
def test_hostile_names_are_sanitised(posts, anon, name):
    response = create(anon, {"docs": [upload(name, b"hello")]})
    assert response.status_code == 201, response.content
    stored = response.json()["docs"][0]
    assert "/" not in stored and "\\" not in stored and "\x00" not in stored
    assert len(stored.encode()) <= 200 and not stored.startswith(".")
    (row,) = rows()
    assert row.key == f"{posts['id']}/{response.json()['id']}/{stored}"


def test_unicode_names_stay_readable(posts, anon):
    response = create(anon, {"docs": [upload("résumé été.txt", b"hello")]})
    assert response.json()["docs"][0].startswith("résumé_été_")
    got = anon.get(file_url("posts", response.json()["id"], response.json()["docs"][0]))
    assert got.status_code == 200
    assert "filename*=utf-8''r%C3%A9sum%C3%A9" in got["Content-Disposition"]


def test_a_file_of_another_record_is_not_served_under_this_one(posts, anon):
    one = create(anon, {"avatar": upload("one.png", png())}).json()
    two = create(anon, {"title": "two"}).json()
    assert anon.get(file_url("posts", two["id"], one["avatar"])).status_code == 404
    assert (
        anon.get(file_url("posts", one["id"], "../" + one["avatar"])).status_code == 404
    )


def test_a_record_cannot_take_another_records_file_by_name(posts, anon):
    one = create(anon, {"avatar": upload("one.png", png())}).json()
    two = create(anon, {"title": "two"}).json()
    stolen = anon.patch(
        f"{RECORDS.format('posts')}/{two['id']}",
        {"avatar": one["avatar"]},
        format="json",
    )
    assert stolen.status_code == 400
    assert stolen.json()["errors"][0]["code"] == "unknown_file"


def test_thumbnails_only_in_allowed_sizes(posts, anon):
    record = create(anon, {"avatar": upload("p.png", png(80, 40))}).json()
    url = file_url("posts", record["id"], record["avatar"])
    thumb = anon.get(url + "?thumb=20x20")
    assert thumb.status_code == 200, body_of(thumb)
    from io import BytesIO

    from PIL import Image

    assert Image.open(BytesIO(body_of(thumb))).size == (20, 20)
    refused = anon.get(url + "?thumb=30x30")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "thumb_not_allowed"


def test_the_schema_api_and_export_know_the_type(posts, admin):
    field = next(
        f
        for f in admin.get("/api/v1/collections/posts").json()["fields"]
        if f["name"] == "avatar"
    )
    assert field["type"] == "file"
    assert field["options"]["thumbs"] == ["20x20"]
    exported = admin.get("/api/v1/schema").json()
    assert any(
        f["type"] == "file" for c in exported["collections"] for f in c["fields"]
    )
    bad = admin.patch(
        "/api/v1/collections/posts",
        {"fields": [{"name": "x", "type": "file", "options": {"thumbs": ["big"]}}]},
        format="json",
    )
    assert bad.status_code == 400


def test_stored_rows_are_attached(posts, anon):
    create(anon, {"avatar": upload("p.png", png())})
    assert [r.state for r in rows()] == [StoredFile.ATTACHED]


def test_rules_see_an_uploaded_file_as_its_name(admin, anon):
    admin.post(
        "/api/v1/collections",
        {
            "name": "ruled",
            "fields": [{"name": "f", "type": "file", "required": True}],
            "rules": {
                "view": "",
                "create": "@request.body.f != ''",
                "update": "@request.body.f != 'x'",
            },
        },
        format="json",
    )
    created = anon.post(
        RECORDS.format("ruled"), {"f": upload("a.txt", b"a")}, format="multipart"
    )
    assert created.status_code == 201, created.content
    record = created.json()
    removed = anon.patch(
        f"{RECORDS.format('ruled')}/{record['id']}", {"f": None}, format="json"
    )
    assert removed.status_code == 400
    assert removed.json()["errors"][0]["code"] == "required"
    emptied = anon.patch(
        f"{RECORDS.format('ruled')}/{record['id']}", {"f": ""}, format="multipart"
    )
    assert emptied.status_code == 400


def test_nested_lists_in_a_json_body_are_a_400_not_a_crash(posts, anon):
    """Found by schemathesis: the rules' view of the body met a list inside a list."""
    response = anon.post(
        RECORDS.format("posts"), {"docs": [[None, None]], "title": "x"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "docs"


def test_form_values_that_parse_as_json_lists_are_not_files(posts, anon):
    """A plain form field whose text is a JSON list reaches the rules as that list."""
    response = create(
        anon, {"title": "t", "views": "[1, 2]", "docs": [upload("a", b"a")]}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "views"
