"""Responses are gzip-compressed when the client accepts it (API.md conventions)."""

from __future__ import annotations

import gzip

import orjson
import pytest

NOTES = "/api/v1/collections/notes/records"


@pytest.fixture
def notes(schema_db, admin):
    fields = [{"name": "title", "type": "text"}]
    response = admin.post(
        "/api/v1/collections", {"name": "notes", "fields": fields}, format="json"
    )
    assert response.status_code == 201, response.content
    for i in range(20):
        created = admin.post(NOTES, {"title": f"note number {i}"}, format="json")
        assert created.status_code == 201


def test_a_record_list_is_gzipped_for_a_client_that_accepts_it(notes, admin):
    plain = admin.get(NOTES)
    zipped = admin.get(NOTES, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert "Origin" in zipped["Vary"]  # (apps/core/cors.py, for shared caches)
    assert len(zipped.content) < len(plain.content)
    assert orjson.loads(gzip.decompress(zipped.content)) == plain.json()
    assert len(plain.json()["items"]) == 20


def test_without_accept_encoding_nothing_is_compressed(notes, admin):
    for headers in ({}, {"HTTP_ACCEPT_ENCODING": "identity"}):
        response = admin.get(NOTES, **headers)
        assert "Content-Encoding" not in response
        assert response.json()["items"]


def test_tiny_responses_are_left_alone(notes, admin):
    missing = admin.get(f"{NOTES}/nosuchrecord000", HTTP_ACCEPT_ENCODING="gzip")
    assert missing.status_code == 404
    assert "Content-Encoding" not in missing  # under 200 bytes: not worth it
    assert missing.json()["errors"][0]["code"]


def test_a_replayed_response_is_compressed_too(notes, admin):
    body = {"title": "x" * 400}
    first = admin.post(NOTES, body, format="json", HTTP_IDEMPOTENCY_KEY="gz-1")
    replay = admin.post(
        NOTES,
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY="gz-1",
        HTTP_ACCEPT_ENCODING="gzip",
    )
    assert replay["Idempotent-Replayed"] == "true"
    assert replay["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(replay.content)) == first.json()
