"""A schema or rule change made by another process is seen by the very next record read.

On PostgreSQL a record read goes on with the spec it last saw and checks the collection's
stamp in the round trip of its first query (apps/collections/dynamic/cache.py); on SQLite
it reads the stamp first. Either way no answer and no refusal may come from a stale spec.
"Another process" is this one with the commit hook that clears its caches switched off:
its caches then hold what they held before the change, as a second process's would.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.collections.dynamic import cache
from tests.conftest import on_postgres

BASE = "/api/v1/collections"
RECORDS = f"{BASE}/notes/records"


@pytest.fixture
def notes(schema_db, admin):
    response = admin.post(
        BASE,
        {
            "name": "notes",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "secret", "type": "text"},
            ],
            "rules": {"list": "", "view": ""},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = admin.post(RECORDS, {"title": "a", "secret": "s"}, format="json")
    assert created.status_code == 201, created.content
    return created.json()["id"]


@pytest.fixture
def elsewhere(monkeypatch):
    """Changes made through this fixture reach the database, not this process's caches."""

    def change(admin, method: str, path: str, body=None):
        with monkeypatch.context() as patch:
            patch.setattr(cache, "forget", lambda collection_id: None)
            response = getattr(admin, method)(path, body, format="json")
        assert response.status_code in (200, 201, 204), response.content
        return response

    return change


def _warm(anon, notes):
    assert anon.get(RECORDS).status_code == 200
    assert anon.get(f"{RECORDS}/{notes}").status_code == 200


def test_closing_the_view_rule_refuses_the_next_read(notes, anon, admin, elsewhere):
    _warm(anon, notes)
    elsewhere(admin, "patch", f"{BASE}/notes", {"rules": {"list": None, "view": None}})
    # null: superusers and keys only, so a sign-in is asked for
    assert anon.get(f"{RECORDS}/{notes}").status_code == 401
    assert anon.get(RECORDS).status_code == 401


def test_opening_the_rules_answers_the_next_read(notes, anon, admin, elsewhere):
    elsewhere(admin, "patch", f"{BASE}/notes", {"rules": {"list": None, "view": None}})
    assert anon.get(f"{RECORDS}/{notes}").status_code == 401
    elsewhere(admin, "patch", f"{BASE}/notes", {"rules": {"list": "", "view": ""}})
    assert anon.get(f"{RECORDS}/{notes}").status_code == 200
    assert [item["id"] for item in anon.get(RECORDS).json()["items"]] == [notes]


def test_hiding_a_field_hides_it_from_the_next_read(notes, anon, admin, elsewhere):
    _warm(anon, notes)
    fields = admin.get(f"{BASE}/notes").json()["fields"]
    for field in fields:
        if field["name"] == "secret":
            field["hidden"] = True
    elsewhere(admin, "patch", f"{BASE}/notes", {"fields": fields})
    assert "secret" not in anon.get(f"{RECORDS}/{notes}").json()
    assert "secret" not in anon.get(RECORDS).json()["items"][0]


def test_a_dropped_field_is_gone_from_the_next_read(notes, anon, admin, elsewhere):
    _warm(anon, notes)
    fields = [
        f for f in admin.get(f"{BASE}/notes").json()["fields"] if f["name"] != "secret"
    ]
    elsewhere(admin, "patch", f"{BASE}/notes", {"fields": fields})
    assert "secret" not in anon.get(f"{RECORDS}/{notes}").json()
    assert anon.get(RECORDS).json()["items"][0]["title"] == "a"


def test_a_deleted_collection_is_a_404_on_the_next_read(notes, anon, admin, elsewhere):
    _warm(anon, notes)
    elsewhere(admin, "delete", f"{BASE}/notes")
    response = anon.get(f"{RECORDS}/{notes}")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "collection_not_found"
    assert anon.get(RECORDS).status_code == 404


def test_a_new_collection_under_the_old_name_is_read_next(
    notes, anon, admin, elsewhere
):
    _warm(anon, notes)
    elsewhere(admin, "patch", f"{BASE}/notes", {"name": "old_notes"})
    elsewhere(
        admin,
        "post",
        BASE,
        {
            "name": "notes",
            "fields": [{"name": "body", "type": "text"}],
            "rules": {"list": "", "view": ""},
        },
    )
    assert anon.get(RECORDS).json()["items"] == []
    assert anon.get(f"{RECORDS}/{notes}").status_code == 404


@on_postgres
def test_a_warm_read_is_one_round_trip_on_postgresql(notes, anon):
    _warm(anon, notes)
    for path in (RECORDS, f"{RECORDS}/{notes}"):
        with CaptureQueriesContext(connection) as queries:
            assert anon.get(path).status_code == 200
        assert len(queries) == 1
        assert "baas_collections" in queries[0]["sql"]
