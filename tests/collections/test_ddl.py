"""DDL round trips: every field type becomes a real column, constraint or junction table.

Each schema change is checked against the table itself (database introspection), not
against the definition the API echoes back.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.collections.schema_helpers import (
    add_record,
    column_of,
    columns,
    constraints,
    create_collection,
    error_of,
    field_by_name,
    fields_payload,
    foreign_keys,
    get_collection,
    index_sets,
    junction_of,
    patch_collection,
    rows,
    snapshot,
    table_names,
    table_of,
    unique_sets,
)

DDL_STATEMENT = re.compile(r"^\s*(ALTER|CREATE|DROP)\b", re.IGNORECASE)

#: (field name, type, options, Django field class the column must introspect as)
SCALAR_FIELDS = [
    ("title", "text", {}, "TextField"),
    ("score", "number", {}, "FloatField"),
    ("done", "bool", {}, "BooleanField"),
    ("contact", "email", {}, "CharField"),
    ("homepage", "url", {}, "CharField"),
    ("due", "date", {}, "DateTimeField"),
    ("status", "select", {"values": ["open", "closed"]}, "CharField"),
    ("labels", "select", {"values": ["a", "b"], "multiple": True}, "JSONField"),
    ("meta", "json", {}, "JSONField"),
]


def relation(name: str, target: str, multiple: bool = False) -> dict:
    return {
        "name": name,
        "type": "relation",
        "options": {"collection": target, "multiple": multiple},
    }


@pytest.fixture
def targets(schema_db, admin) -> dict:
    return create_collection(admin, "targets", [{"name": "label", "type": "text"}])


@pytest.fixture
def things(targets, admin) -> dict:
    """A collection with every field type, every kind of relation, a unique field, indexes."""
    fields = [{"name": n, "type": t, "options": o} for n, t, o, _ in SCALAR_FIELDS]
    fields += [
        relation("owner", "users"),
        relation("target", "targets"),
        relation("many_targets", "targets", multiple=True),
        relation("parent", "things"),
        relation("children", "things", multiple=True),
        {"name": "code", "type": "text", "unique": True},
    ]
    indexes = [
        {"fields": ["status", "created"]},
        {"fields": ["title", "score"], "unique": True},
    ]
    return create_collection(admin, "things", fields, indexes)


def ddl_statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"] for q in captured.captured_queries if DDL_STATEMENT.match(q["sql"])
    ]


# --- create -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [(n, e) for n, _, _, e in SCALAR_FIELDS])
def test_every_scalar_type_gets_a_nullable_column_of_a_sensible_type(
    things, name, expected
):
    column_type, nullable = columns(table_of(things))[column_of(things, name)]
    assert column_type == expected
    assert nullable, "columns stay nullable: `required` is checked by the API"


def test_system_columns_exist_with_id_as_primary_key(things):
    table = table_of(things)
    cols = columns(table)
    assert {"id", "created", "updated"} <= set(cols)
    assert cols["created"][0] == "DateTimeField"
    primary = [c["columns"] for c in constraints(table).values() if c["primary_key"]]
    assert primary == [["id"]]


def test_single_relations_are_foreign_key_columns(things, targets):
    table = table_of(things)
    fks = foreign_keys(table)
    assert fks[column_of(things, "owner")] == ("baas_users", "id")
    assert fks[column_of(things, "target")] == (table_of(targets), "id")
    assert fks[column_of(things, "parent")] == (table, "id")
    for name in ("owner", "target", "parent"):
        column_type, nullable = columns(table)[column_of(things, name)]
        assert column_type == "CharField" and nullable


def test_multi_relations_are_junction_tables_not_columns(things, targets):
    table = table_of(things)
    for name, target_table in (
        ("many_targets", table_of(targets)),
        ("children", table),
    ):
        junction = junction_of(things, name)
        assert junction in table_names()
        assert column_of(things, name) not in columns(table)
        assert sorted(foreign_keys(junction).values()) == sorted(
            [(table, "id"), (target_table, "id")]
        )


def test_unique_field_gets_a_unique_constraint(things):
    table = table_of(things)
    assert (column_of(things, "code"),) in unique_sets(table)
    assert (column_of(things, "title"),) not in unique_sets(table)


def test_indexes_exist_including_a_unique_composite_one(things):
    table = table_of(things)
    assert (column_of(things, "status"), "created") in index_sets(table)
    assert (column_of(things, "title"), column_of(things, "score")) in unique_sets(
        table
    )


def test_unique_composite_index_refuses_duplicates(things, admin):
    add_record(admin, "things", {"title": "a", "score": 1})
    add_record(admin, "things", {"title": "a", "score": 2})
    response = admin.post(
        "/api/v1/collections/things/records", {"title": "a", "score": 1}, format="json"
    )
    assert response.status_code == 409, response.content
    assert len(rows(table_of(things))) == 2


def test_create_keeps_the_definition_it_was_given(things):
    assert [f["name"] for f in things["fields"]] == [n for n, *_ in SCALAR_FIELDS] + [
        "owner",
        "target",
        "many_targets",
        "parent",
        "children",
        "code",
    ]
    assert field_by_name(things, "target")["options"]["collection"] == "targets"
    assert field_by_name(things, "children")["options"]["collection"] == "things"
    assert things["indexes"] == [
        {"fields": ["status", "created"], "unique": False},
        {"fields": ["title", "score"], "unique": True},
    ]


# --- alter ------------------------------------------------------------------------------


def test_adding_a_field_adds_a_column(things, admin):
    table = table_of(things)
    before = set(columns(table))
    updated = patch_collection(
        admin,
        "things",
        {"fields": fields_payload(things) + [{"name": "extra", "type": "number"}]},
    )
    after = columns(table)
    assert set(after) - before == {column_of(updated, "extra")}
    assert after[column_of(updated, "extra")] == ("FloatField", True)


def test_adding_fields_keeps_existing_rows(things, admin):
    record = add_record(admin, "things", {"title": "kept", "score": 3})
    patch_collection(
        admin,
        "things",
        {"fields": fields_payload(things) + [{"name": "extra", "type": "text"}]},
    )
    fetched = admin.get(f"/api/v1/collections/things/records/{record['id']}").json()
    assert (fetched["title"], fetched["score"], fetched["extra"]) == ("kept", 3, None)


def test_adding_a_multi_relation_creates_its_junction_table(things, admin):
    updated = patch_collection(
        admin,
        "things",
        {
            "fields": fields_payload(things)
            + [relation("more", "targets", multiple=True)]
        },
    )
    assert junction_of(updated, "more") in table_names()
    assert column_of(updated, "more") not in columns(table_of(things))


def test_rename_keeps_data_and_column(things, admin):
    record = add_record(admin, "things", {"title": "hello"})
    table = table_of(things)
    before = snapshot(table)
    payload = fields_payload(things)
    payload[0]["name"] = "headline"
    with CaptureQueriesContext(connection) as captured:
        updated = patch_collection(admin, "things", {"fields": payload})
    assert ddl_statements(captured) == []
    assert (
        field_by_name(updated, "headline")["id"] == field_by_name(things, "title")["id"]
    )
    assert snapshot(table) == before
    fetched = admin.get(f"/api/v1/collections/things/records/{record['id']}").json()
    assert fetched["headline"] == "hello"
    assert "title" not in fetched


def test_rename_of_an_indexed_field_keeps_the_index(things, admin):
    payload = fields_payload(things)
    for field in payload:
        if field["name"] == "status":
            field["name"] = "state"
    updated = patch_collection(admin, "things", {"fields": payload})
    assert {"fields": ["state", "created"], "unique": False} in updated["indexes"]
    assert (column_of(updated, "state"), "created") in index_sets(table_of(things))


def test_collection_rename_keeps_table_and_data(things, admin):
    record = add_record(admin, "things", {"title": "hello"})
    before = snapshot(table_of(things))
    with CaptureQueriesContext(connection) as captured:
        renamed = patch_collection(admin, "things", {"name": "stuff"})
    assert ddl_statements(captured) == []
    assert table_of(renamed) == table_of(things)
    assert snapshot(table_of(things)) == before
    assert (
        admin.get(f"/api/v1/collections/stuff/records/{record['id']}").status_code
        == 200
    )
    assert admin.get("/api/v1/collections/things").status_code == 404


def test_removing_a_field_drops_its_column_and_keeps_other_data(things, admin):
    record = add_record(admin, "things", {"title": "kept", "meta": {"a": 1}})
    table = table_of(things)
    gone = column_of(things, "meta")
    payload = [f for f in fields_payload(things) if f["name"] != "meta"]
    patch_collection(admin, "things", {"fields": payload})
    assert gone not in columns(table)
    fetched = admin.get(f"/api/v1/collections/things/records/{record['id']}").json()
    assert fetched["title"] == "kept"
    assert "meta" not in fetched


def test_removing_an_indexed_field_drops_its_indexes(things, admin):
    payload = [f for f in fields_payload(things) if f["name"] != "score"]
    updated = patch_collection(admin, "things", {"fields": payload})
    assert updated["indexes"] == [{"fields": ["status", "created"], "unique": False}]
    assert (column_of(things, "title"), column_of(things, "score")) not in unique_sets(
        table_of(things)
    )


def test_removing_a_multi_relation_drops_its_junction_table(things, admin):
    junction = junction_of(things, "many_targets")
    payload = [f for f in fields_payload(things) if f["name"] != "many_targets"]
    patch_collection(admin, "things", {"fields": payload})
    assert junction not in table_names()


def test_retype_changes_the_column_type(things, admin):
    payload = fields_payload(things)
    for field in payload:
        if field["name"] == "score":
            field["type"] = "text"
            field["options"] = {}
    patch_collection(admin, "things", {"fields": payload})
    assert columns(table_of(things))[column_of(things, "score")][0] == "TextField"


def test_making_a_field_unique_adds_the_constraint_and_back(things, admin):
    table = table_of(things)
    payload = fields_payload(things)
    for field in payload:
        if field["name"] == "contact":
            field["unique"] = True
    patch_collection(admin, "things", {"fields": payload})
    assert (column_of(things, "contact"),) in unique_sets(table)
    for field in payload:
        if field["name"] == "contact":
            field["unique"] = False
    patch_collection(admin, "things", {"fields": payload})
    assert (column_of(things, "contact"),) not in unique_sets(table)


def test_removing_indexes_drops_them_from_the_table(things, admin):
    table = table_of(things)
    updated = patch_collection(admin, "things", {"indexes": []})
    assert updated["indexes"] == []
    assert (column_of(things, "title"), column_of(things, "score")) not in unique_sets(
        table
    )
    assert (column_of(things, "status"), "created") not in index_sets(table)
    assert (column_of(things, "code"),) in unique_sets(table), "field uniqueness stays"


def test_indexes_can_be_replaced(things, admin):
    table = table_of(things)
    updated = patch_collection(
        admin, "things", {"indexes": [{"fields": ["code", "due"], "unique": True}]}
    )
    assert updated["indexes"] == [{"fields": ["code", "due"], "unique": True}]
    assert (column_of(things, "code"), column_of(things, "due")) in unique_sets(table)
    assert (column_of(things, "status"), "created") not in index_sets(table)
    assert (column_of(things, "title"), column_of(things, "score")) not in unique_sets(
        table
    )


# --- drop -------------------------------------------------------------------------------


def test_drop_removes_the_table_and_its_junction_tables(things, admin):
    owned = {
        table_of(things),
        junction_of(things, "many_targets"),
        junction_of(things, "children"),
    }
    assert owned <= table_names()
    response = admin.delete("/api/v1/collections/things")
    assert response.status_code == 204, response.content
    assert not owned & table_names()
    assert admin.get("/api/v1/collections/things").status_code == 404


def test_drop_leaves_other_collections_alone(things, targets, admin):
    add_record(admin, "targets", {"label": "stays"})
    assert admin.delete("/api/v1/collections/things").status_code == 204
    assert table_of(targets) in table_names()
    assert len(rows(table_of(targets))) == 1


# --- retype: conversions ------------------------------------------------------------------

#: (from type, from options, stored values, to type, to options, values read back)
CONVERTIBLE = [
    pytest.param(
        "number",
        {},
        [5, 2.5, None],
        "text",
        {},
        ["5", "2.5", None],
        id="number-to-text",
    ),
    pytest.param(
        "text",
        {},
        ["42", "-2.5", None],
        "number",
        {},
        [42, -2.5, None],
        id="text-to-number",
    ),
    pytest.param(
        "select",
        {"values": ["a", "b"]},
        ["a", None],
        "select",
        {"values": ["a", "b"], "multiple": True},
        [["a"], []],
        id="select-single-to-multiple",
    ),
    pytest.param(
        "select",
        {"values": ["a", "b"], "multiple": True},
        [["b"], []],
        "select",
        {"values": ["a", "b"]},
        ["b", None],
        id="select-multiple-to-single",
    ),
    pytest.param(
        "text", {}, ["hello", None], "json", {}, ["hello", None], id="text-to-json"
    ),
    pytest.param(
        "json",
        {},
        [{"a": 1}, [1, 2]],
        "text",
        {},
        ['{"a":1}', "[1,2]"],
        id="json-to-text",
    ),
    pytest.param(
        "bool", {}, [True, False], "text", {}, ["true", "false"], id="bool-to-text"
    ),
    pytest.param(
        "text", {}, ["yes", "0"], "bool", {}, [True, False], id="text-to-bool"
    ),
    pytest.param("number", {}, [1, 0], "bool", {}, [True, False], id="number-to-bool"),
    pytest.param("bool", {}, [True, False], "number", {}, [1, 0], id="bool-to-number"),
    pytest.param(
        "email",
        {},
        ["a@example.com"],
        "text",
        {},
        ["a@example.com"],
        id="email-to-text",
    ),
    pytest.param(
        "text",
        {},
        ["https://example.com"],
        "url",
        {},
        ["https://example.com"],
        id="text-to-url",
    ),
    pytest.param(
        "date",
        {},
        ["2026-01-02T03:04:05.678Z"],
        "text",
        {},
        ["2026-01-02T03:04:05.678Z"],
        id="date-to-text",
    ),
    pytest.param(
        "text",
        {},
        ["2026-01-02T03:04:05Z"],
        "date",
        {},
        ["2026-01-02T03:04:05.000Z"],
        id="text-to-date",
    ),
    pytest.param(
        "text",
        {},
        ["open"],
        "select",
        {"values": ["open", "closed"]},
        ["open"],
        id="text-to-select",
    ),
]


@pytest.mark.parametrize(
    ("old_type", "old_options", "stored", "new_type", "new_options", "expected"),
    CONVERTIBLE,
)
def test_retype_converts_stored_values(
    schema_db, admin, old_type, old_options, stored, new_type, new_options, expected
):
    items = create_collection(
        admin, "items", [{"name": "value", "type": old_type, "options": old_options}]
    )
    ids = [add_record(admin, "items", {"value": value})["id"] for value in stored]
    field = dict(field_by_name(items, "value"), type=new_type, options=new_options)
    updated = patch_collection(admin, "items", {"fields": [field]})
    assert field_by_name(updated, "value")["type"] == new_type
    read = [
        admin.get(f"/api/v1/collections/items/records/{pk}").json()["value"]
        for pk in ids
    ]
    assert read == expected


def test_retype_to_json_changes_the_column(schema_db, admin):
    items = create_collection(admin, "items", [{"name": "value", "type": "text"}])
    field = dict(field_by_name(items, "value"), type="json", options={})
    patch_collection(admin, "items", {"fields": [field]})
    assert columns(table_of(items))[column_of(items, "value")][0] == "JSONField"


#: (from type, from options, stored values, to type, to options)
UNCONVERTIBLE = [
    pytest.param("text", {}, ["12", "abc"], "number", {}, id="text-abc-to-number"),
    pytest.param("text", {}, ["maybe"], "bool", {}, id="text-maybe-to-bool"),
    pytest.param("text", {}, ["not an email"], "email", {}, id="text-to-email"),
    pytest.param("number", {}, [2], "bool", {}, id="number-2-to-bool"),
    pytest.param(
        "select",
        {"values": ["a", "b"], "multiple": True},
        [["a", "b"]],
        "select",
        {"values": ["a", "b"]},
        id="select-two-values-to-single",
    ),
    pytest.param(
        "text",
        {},
        ["c"],
        "select",
        {"values": ["a", "b"]},
        id="text-to-select-without-choice",
    ),
    pytest.param("json", {}, [{"a": 1}], "number", {}, id="json-object-to-number"),
]


def assert_refused_unchanged(admin, name: str, payload: dict, table: str) -> dict:
    """PATCH must be a 400 `unconvertible` that leaves definition, table and data alone."""
    definition = get_collection(admin, name)
    before = snapshot(table)
    response = admin.patch(f"/api/v1/collections/{name}", payload, format="json")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "unconvertible"
    assert error["param"] == "fields"
    assert get_collection(admin, name) == definition
    assert snapshot(table) == before
    return error


@pytest.mark.parametrize(
    ("old_type", "old_options", "stored", "new_type", "new_options"), UNCONVERTIBLE
)
def test_unconvertible_retype_is_refused_and_changes_nothing(
    schema_db, admin, old_type, old_options, stored, new_type, new_options
):
    items = create_collection(
        admin,
        "items",
        [
            {"name": "value", "type": old_type, "options": old_options},
            {"name": "other", "type": "text"},
        ],
    )
    for value in stored:
        add_record(admin, "items", {"value": value, "other": "x"})
    # The same PATCH also renames, removes and adds fields: none of it may stick.
    payload = {
        "fields": [
            dict(field_by_name(items, "value"), type=new_type, options=new_options),
            {"name": "added", "type": "number"},
        ]
    }
    error = assert_refused_unchanged(admin, "items", payload, table_of(items))
    assert "value" in error["message"]


@pytest.mark.parametrize(
    ("new_type", "new_options"),
    [
        pytest.param("text", {}, id="to-text"),
        pytest.param(
            "relation", {"collection": "targets", "multiple": True}, id="to-multiple"
        ),
        pytest.param("relation", {"collection": "items"}, id="to-another-target"),
    ],
)
def test_relation_cannot_be_retyped(targets, admin, new_type, new_options):
    items = create_collection(admin, "items", [relation("link", "targets")])
    target = add_record(admin, "targets", {"label": "t"})
    add_record(admin, "items", {"link": target["id"]})
    payload = {
        "fields": [
            dict(field_by_name(items, "link"), type=new_type, options=new_options)
        ]
    }
    assert_refused_unchanged(admin, "items", payload, table_of(items))


def test_a_field_cannot_be_retyped_into_a_relation(targets, admin):
    items = create_collection(admin, "items", [{"name": "link", "type": "text"}])
    payload = {
        "fields": [
            dict(
                field_by_name(items, "link"),
                type="relation",
                options={"collection": "targets"},
            )
        ]
    }
    assert_refused_unchanged(admin, "items", payload, table_of(items))


def test_every_scalar_type_can_be_retyped_into_every_other_when_values_are_empty(
    schema_db, admin
):
    items = create_collection(admin, "items", [{"name": "value", "type": "text"}])
    add_record(admin, "items", {})
    table, column = table_of(items), column_of(items, "value")
    field = field_by_name(items, "value")
    kinds = [(t, o, e) for _, t, o, e in SCALAR_FIELDS]
    for old_type, old_options, old_class in kinds:
        for new_type, new_options, new_class in kinds:
            if (old_type, old_options) == (new_type, new_options):
                continue
            for type_name, options, expected in (
                (old_type, old_options, old_class),
                (new_type, new_options, new_class),
            ):
                body = {"fields": [dict(field, type=type_name, options=options)]}
                response = admin.patch("/api/v1/collections/items", body, format="json")
                assert response.status_code == 200, (
                    old_type,
                    new_type,
                    response.content,
                )
                assert columns(table)[column][0] == expected, (old_type, new_type)
    assert len(rows(table)) == 1


@pytest.mark.parametrize(
    ("old_type", "stored", "new_type", "expected"),
    [
        pytest.param("text", ["1", "2"], "number", [1, 2], id="text-to-number"),
        pytest.param("number", [1, 2], "text", ["1", "2"], id="number-to-text"),
        pytest.param("bool", [True, False], "number", [1, 0], id="bool-to-number"),
        pytest.param("number", [0, 1], "bool", [False, True], id="number-to-bool"),
        pytest.param(
            "email",
            ["a@x.io", "b@x.io"],
            "text",
            ["a@x.io", "b@x.io"],
            id="email-to-text",
        ),
    ],
)
def test_retype_keeps_unique_constraints_and_indexes(
    schema_db, admin, old_type, stored, new_type, expected
):
    items = create_collection(
        admin,
        "items",
        [
            {"name": "value", "type": old_type, "unique": True},
            {"name": "other", "type": "text"},
        ],
        indexes=[
            {"fields": ["value", "other"]},
            {"fields": ["other", "value"], "unique": True},
        ],
    )
    ids = [add_record(admin, "items", {"value": v, "other": "o"})["id"] for v in stored]
    field = dict(field_by_name(items, "value"), type=new_type, options={})
    updated = patch_collection(
        admin, "items", {"fields": [field, field_by_name(items, "other")]}
    )
    assert updated["indexes"] == items["indexes"]
    table, value, other = (
        table_of(items),
        column_of(items, "value"),
        column_of(items, "other"),
    )
    assert (value,) in unique_sets(table)
    assert (value, other) in index_sets(table)
    assert (other, value) in unique_sets(table)
    read = [
        admin.get(f"/api/v1/collections/items/records/{pk}").json()["value"]
        for pk in ids
    ]
    assert read == expected
    duplicate = admin.post(
        "/api/v1/collections/items/records", {"value": expected[0]}, format="json"
    )
    assert duplicate.status_code == 409, duplicate.content
