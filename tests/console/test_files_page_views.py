"""The console's files page in-process: listing with totals, the collection filter,
downloads and thumbnails for the superuser only, hostile names as text."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.files.helpers import RECORDS, body_of, png, upload

pytestmark = pytest.mark.usefixtures("schema_db")

XSS = '<img src=x onerror=alert(1)>"><script>'


@pytest.fixture
def album(admin):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "album",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "photo", "type": "file", "options": {"protected": True}},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = admin.post(
        RECORDS.format("album"),
        {"title": "one", "photo": upload(f"{XSS}.png", png())},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    return created.json()


def test_files_page_lists_files_with_totals_and_escapes_names(console_client, album):
    response = console_client.get("/console/files/")
    assert response.status_code == 200
    html = response.content.decode()
    assert album["photo"] in response.context["items"][0]["row"].name
    assert "<img src=x" not in html and "<script>" not in html
    assert "&lt;img" in html or "img_src" in html  # stored names are sanitised
    assert response.context["count"] == 1
    assert response.context["bytes"] == len(png())
    assert 'id="files-count">1<' in html


def test_the_collection_filter_narrows_and_an_unknown_one_is_an_error(
    console_client, album
):
    response = console_client.get("/console/files/?collection=album")
    assert response.context["count"] == 1
    response = console_client.get("/console/files/?collection=nope")
    assert response.status_code == 400
    assert "No collection named" in response.content.decode()
    response = console_client.get("/console/files/?cursor=garbage")
    assert response.status_code == 400


def test_a_protected_file_downloads_for_the_superuser_only(console_client, album):
    row = console_client.get("/console/files/").context["items"][0]["row"]
    response = console_client.get(f"/console/files/{row.pk}/download/")
    assert response.status_code == 200
    assert body_of(response) == png()
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    thumb = console_client.get(f"/console/files/{row.pk}/thumb/")
    assert thumb.status_code == 200
    assert body_of(thumb).startswith(b"\x89PNG")
    assert Client().get(f"/console/files/{row.pk}/download/").status_code == 302
    assert console_client.get("/console/files/nosuchfile/download/").status_code == 404
