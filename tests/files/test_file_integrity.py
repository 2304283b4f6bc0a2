"""A crash between storage and the row never leaves a record naming a missing file; the
jobs remove what no record holds. Direct uploads (S3) are checked before they attach."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.files import storage, tasks
from apps.files.models import StoredFile
from tests.files.helpers import (
    RECORDS,
    body_of,
    file_url,
    png,
    rows,
    stored_keys,
    upload,
)

pytestmark = pytest.mark.usefixtures("schema_db")


@pytest.fixture
def docs(admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "docs",
            "fields": [
                {"name": "file", "type": "file", "options": {"max_size": 1000}},
                {"name": "many", "type": "file", "options": {"multiple": True}},
            ],
            "rules": {"list": "", "view": "", "create": "", "update": "", "delete": ""},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def _age(seconds: int) -> None:
    StoredFile.objects.update(updated=timezone.now() - dt.timedelta(seconds=seconds))


def test_an_upload_never_attached_is_removed_by_the_cleanup_job(docs, settings):
    """What a crash after writing the object and before the record's commit leaves."""
    row = StoredFile.objects.create(
        collection_id=docs["id"],
        record_id="a" * 15,
        field_id=docs["fields"][0]["id"],
        name="lost_aaaaaaaaaa.txt",
        key=storage.record_key(docs["id"], "a" * 15, "lost_aaaaaaaaaa.txt"),
    )
    storage.save(row.key, ContentFile(b"lost"))
    assert tasks.cleanup() == 0  # still young: maybe its request is running
    _age(settings.BAAS_FILES_PENDING_TTL + 1)
    assert tasks.cleanup() == 1
    assert rows() == [] and stored_keys(docs["id"]) == set()


def test_a_delete_interrupted_after_commit_is_finished_by_the_job(docs, anon):
    record = anon.post(
        RECORDS.format("docs"), {"file": upload("f.txt", b"f")}, format="multipart"
    ).json()
    StoredFile.objects.update(state=StoredFile.DELETING)  # as if the process died
    _age(120)
    assert tasks.cleanup() == 1
    assert stored_keys(docs["id"]) == set()
    assert record["file"]


def test_the_sweep_removes_objects_and_rows_no_record_holds(docs, anon, settings):
    kept = anon.post(
        RECORDS.format("docs"), {"file": upload("k.txt", b"k")}, format="multipart"
    ).json()
    stray_key = storage.record_key(docs["id"], "b" * 15, "stray_bbbbbbbbbb.txt")
    storage.save(stray_key, ContentFile(b"stray"))  # no row: a rolled-back write
    detached = StoredFile.objects.create(
        collection_id=docs["id"],
        record_id=kept["id"],
        field_id=docs["fields"][0]["id"],
        name="other_cccccccccc.txt",
        key=storage.record_key(docs["id"], kept["id"], "other_cccccccccc.txt"),
        state=StoredFile.ATTACHED,
    )
    storage.save(detached.key, ContentFile(b"x"))
    settings.BAAS_FILES_PENDING_TTL = -60  # every object counts as old here
    assert tasks.sweep() >= 2  # (and whatever earlier tests left in the store)
    assert [r.name for r in rows()] == [kept["file"]]
    assert stored_keys(docs["id"]) == {
        storage.record_key(docs["id"], kept["id"], kept["file"])
    }
    got = anon.get(file_url("docs", kept["id"], kept["file"]))
    assert body_of(got) == b"k"


def test_thumbnails_are_made_by_the_task_and_removed_with_the_file(admin, anon):
    admin.post(
        "/api/v1/collections",
        {
            "name": "pics",
            "fields": [
                {"name": "p", "type": "file", "options": {"thumbs": ["8x8", "0x4"]}}
            ],
            "rules": {"view": "", "create": "", "delete": ""},
        },
        format="json",
    )
    record = anon.post(
        RECORDS.format("pics"), {"p": upload("p.png", png())}, format="multipart"
    ).json()
    (row,) = rows()
    assert tasks.make_thumbs([row.pk]) == 2
    collection_id = row.collection_id
    assert len(stored_keys(collection_id)) == 3
    assert anon.delete(f"{RECORDS.format('pics')}/{record['id']}").status_code == 204
    assert stored_keys(collection_id) == set()


def test_direct_uploads(docs, anon):
    begin = anon.post(
        "/api/v1/files/uploads",
        {
            "collection": "docs",
            "record": "x" * 15,
            "field": "many",
            "name": "a.txt",
            "size": 5,
        },
        format="json",
    )
    if not storage.is_s3():
        assert begin.status_code == 409
        assert begin.json()["errors"][0]["code"] == "direct_uploads_unavailable"
        return
    assert begin.status_code == 404  # no such record
    record = anon.post(RECORDS.format("docs"), {}, format="json").json()

    def start(size, field="many"):
        response = anon.post(
            "/api/v1/files/uploads",
            {
                "collection": "docs",
                "record": record["id"],
                "field": field,
                "name": "big report.txt",
                "size": size,
            },
            format="json",
        )
        return response

    too_big = start(5000, field="file")
    assert too_big.status_code == 413
    ticket = start(11).json()
    assert ticket["method"] == "PUT"
    early = anon.post(f"/api/v1/files/uploads/{ticket['id']}/complete")
    assert early.status_code == 409
    sent = requests.put(ticket["url"], data=b"hello world", headers=ticket["headers"])
    assert sent.status_code == 200, sent.text
    done = anon.post(f"/api/v1/files/uploads/{ticket['id']}/complete")
    assert done.status_code == 200, done.content
    (name,) = done.json()["many"]
    assert name.startswith("big_report_")
    assert body_of(anon.get(file_url("docs", record["id"], name))) == b"hello world"
    again = anon.post(f"/api/v1/files/uploads/{ticket['id']}/complete")
    assert again.status_code == 404
    liar = start(3).json()
    requests.put(liar["url"], data=b"much longer", headers=liar["headers"])
    mismatch = anon.post(f"/api/v1/files/uploads/{liar['id']}/complete")
    assert mismatch.status_code == 400
    assert mismatch.json()["errors"][0]["code"] == "size_mismatch"
    assert [r.name for r in rows()] == [name]


def test_storage_down_is_503_and_leaves_nothing(docs, anon, monkeypatch):
    def refuse(key, content):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "save", refuse)
    response = anon.post(
        RECORDS.format("docs"), {"file": upload("f.txt", b"f")}, format="multipart"
    )
    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "storage_unavailable"
    assert response["Retry-After"]
    assert rows() == []
    assert anon.get(RECORDS.format("docs")).json()["items"] == []


def test_the_change_log_carries_file_names(docs, anon):
    record = anon.post(
        RECORDS.format("docs"), {"many": [upload("a.txt", b"a")]}, format="multipart"
    ).json()
    changes = anon.get("/api/v1/collections/docs/changes").json()["changes"]
    assert changes[-1]["record"]["many"] == record["many"]
