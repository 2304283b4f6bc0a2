"""The schema change preview: what a change would do to stored records, before it runs."""

from __future__ import annotations

import pytest

from apps.collections import services
from apps.collections.preview import preview_update
from apps.core.exceptions import Forbidden, InvalidInput
from tests.collections.schema_helpers import (
    add_record,
    create_collection,
    fields_payload,
    get_collection,
)


@pytest.fixture
def notes(schema_db, admin, superuser):
    create_collection(
        admin,
        "notes",
        fields=[
            {"name": "title", "type": "text"},
            {"name": "code", "type": "text"},
            {"name": "level", "type": "number"},
            {"name": "kind", "type": "select", "options": {"values": ["a", "b", "c"]}},
        ],
    )
    rows = [
        {"title": "first", "code": "12", "level": 1, "kind": "a"},
        {"title": "second", "code": "x-1", "level": 2, "kind": "b"},
        {"code": "7", "level": 2, "kind": "c"},
        {"title": "fourth", "code": "seven", "kind": "a"},
    ]
    ids = [add_record(admin, "notes", row)["id"] for row in rows]
    return ids


def _fields(admin, **changes) -> list[dict]:
    fields = fields_payload(get_collection(admin, "notes"))
    for field in fields:
        field.update(changes.get(field["name"], {}))
    return fields


def _problem(result, kind, field=None):
    found = [
        p
        for p in result["problems"]
        if p["kind"] == kind and (field is None or p["field"] == field)
    ]
    assert len(found) == 1, result["problems"]
    return found[0]


def test_a_retype_lists_the_values_that_cannot_be_converted(notes, admin, superuser):
    data = {"fields": _fields(admin, code={"type": "number", "options": {}})}
    result = preview_update(actor=superuser, name="notes", data=data)
    problem = _problem(result, "unconvertible", "code")
    assert problem["severity"] == "error"
    assert problem["count"] == 2
    assert {e["value"] for e in problem["examples"]} == {"x-1", "seven"}
    assert {e["id"] for e in problem["examples"]} == {notes[1], notes[3]}
    assert result["applies"] is False
    assert result["error"]["errors"][0]["code"] == "unconvertible"
    assert result["diff"]["changed"][0]["changes"]["type"] == {
        "from": "text",
        "to": "number",
    }
    # Nothing changed: the column is still text and holds every value.
    assert get_collection(admin, "notes")["fields"][1]["type"] == "text"
    listed = admin.get("/api/v1/collections/notes/records").json()
    assert sorted(r["code"] for r in listed["items"]) == ["12", "7", "seven", "x-1"]


def test_a_new_required_flag_counts_the_empty_records(notes, admin, superuser):
    data = {"fields": _fields(admin, title={"required": True})}
    result = preview_update(actor=superuser, name="notes", data=data)
    problem = _problem(result, "required_empty", "title")
    assert problem["count"] == 1
    assert problem["examples"] == [{"id": notes[2], "value": None}]
    assert problem["severity"] == "warning"
    assert result["applies"] is True


def test_a_new_unique_flag_shows_the_duplicates(notes, admin, superuser):
    data = {"fields": _fields(admin, level={"unique": True})}
    result = preview_update(actor=superuser, name="notes", data=data)
    problem = _problem(result, "duplicates", "level")
    assert problem["count"] == 2
    assert sorted(e["id"] for e in problem["examples"]) == sorted(notes[1:3])
    assert result["applies"] is False


def test_a_new_unique_index_shows_the_duplicates(notes, admin, superuser):
    data = {"indexes": [{"fields": ["kind"], "unique": True}]}
    result = preview_update(actor=superuser, name="notes", data=data)
    problem = _problem(result, "duplicates")
    assert problem["count"] == 2
    assert {e["value"] for e in problem["examples"]} == {"a"}
    assert result["diff"]["indexes_added"] == [{"fields": "kind", "unique": True}]
    assert result["applies"] is False


def test_tighter_options_list_the_values_they_refuse(notes, admin, superuser):
    data = {
        "fields": _fields(
            admin,
            title={"options": {"max": 5}},
            kind={"options": {"values": ["a", "b"]}},
        )
    }
    result = preview_update(actor=superuser, name="notes", data=data)
    assert _problem(result, "violates_options", "title")["count"] == 2
    kind = _problem(result, "violates_options", "kind")
    assert kind["examples"] == [{"id": notes[2], "value": "c"}]
    assert result["applies"] is True


def test_removing_a_field_counts_the_values_lost(notes, admin, superuser):
    fields = [f for f in _fields(admin) if f["name"] != "level"]
    result = preview_update(actor=superuser, name="notes", data={"fields": fields})
    assert _problem(result, "data_lost", "level")["count"] == 3
    assert result["diff"]["removed"] == ["level"]


def test_a_safe_change_has_no_problems_and_changes_nothing(notes, admin, superuser):
    fields = _fields(admin, title={"name": "heading"})
    fields.append({"name": "done", "type": "bool"})
    result = preview_update(
        actor=superuser, name="notes", data={"fields": fields, "name": "memos"}
    )
    assert result["problems"] == []
    assert result["applies"] is True
    assert result["diff"]["renamed"] == [{"from": "title", "to": "heading"}]
    assert result["diff"]["name"] == {"from": "notes", "to": "memos"}
    assert [f["name"] for f in result["diff"]["added"]] == ["done"]
    after = get_collection(admin, "notes")
    assert [f["name"] for f in after["fields"]] == ["title", "code", "level", "kind"]
    assert services.get_spec("notes").version == after["schema_version"]


def test_an_unchanged_definition_says_so(notes, admin, superuser):
    result = preview_update(
        actor=superuser, name="notes", data={"fields": _fields(admin)}
    )
    assert result["unchanged"] is True


def test_an_invalid_change_raises_the_update_error(notes, admin, superuser):
    with pytest.raises(InvalidInput) as caught:
        preview_update(
            actor=superuser,
            name="notes",
            data={"fields": [{"name": "x", "type": "nope"}]},
        )
    assert caught.value.errors[0].param == "fields.0.type"


def test_only_schema_actors_may_preview(notes, app_user):
    with pytest.raises(Forbidden):
        preview_update(actor=app_user, name="notes", data={})
