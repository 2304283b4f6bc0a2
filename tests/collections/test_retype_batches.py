"""Retype conversion reads rows in keyset batches, never through a server-side cursor."""

import pytest

from apps.collections.dynamic import ddl

from ..conftest import on_postgres


@pytest.fixture
def numbers(schema_db, admin, monkeypatch):
    monkeypatch.setattr(ddl, "CONVERT_BATCH", 2)
    response = admin.post(
        "/api/v1/collections",
        {"name": "numbers", "fields": [{"name": "value", "type": "text"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    field_id = response.json()["fields"][0]["id"]
    for value in ["1", "2", "3", "4", "5"]:
        created = admin.post(
            "/api/v1/collections/numbers/records", {"value": value}, format="json"
        )
        assert created.status_code == 201
    return admin, field_id


def _retype(admin, field_id, type_name):
    return admin.patch(
        "/api/v1/collections/numbers",
        {"fields": [{"id": field_id, "name": "value", "type": type_name}]},
        format="json",
    )


def test_conversion_covers_every_row_across_batches(numbers):
    admin, field_id = numbers
    assert _retype(admin, field_id, "number").status_code == 200
    items = admin.get("/api/v1/collections/numbers/records?limit=10").json()["items"]
    assert sorted(item["value"] for item in items) == [1, 2, 3, 4, 5]


@on_postgres
def test_a_failed_conversion_opens_no_server_side_cursor(numbers, monkeypatch):
    """An abandoned server-side cursor is closed by the garbage collector at a random
    moment, possibly inside another query on the same connection: psycopg deadlocks."""
    import psycopg

    admin, field_id = numbers
    admin.post(
        "/api/v1/collections/numbers/records", {"value": "not a number"}, format="json"
    )
    opened = []
    original = psycopg.ServerCursor.__init__

    def recording_init(self, *args, **kwargs):
        opened.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.ServerCursor, "__init__", recording_init)
    assert _retype(admin, field_id, "number").status_code == 400
    assert opened == []
    assert admin.get("/api/v1/collections/numbers/records").status_code == 200
