"""Record input is checked against the field definitions: 4xx naming the field, nothing written."""

from __future__ import annotations

import pytest

from apps.collections.dynamic import cache
from apps.collections.services import get_spec

RECORDS = "/api/v1/collections/{}/records"


def create_collection(admin, name: str, fields: list[dict]) -> None:
    response = admin.post(
        "/api/v1/collections", {"name": name, "fields": fields}, format="json"
    )
    assert response.status_code == 201, response.content


def stored_rows(name: str) -> int:
    return cache.model_for(get_spec(name)).objects.count()


def assert_refused(response, status: int, param: str, code: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status
    params = [e.get("param") for e in body["errors"]]
    assert param in params, body
    for error in body["errors"]:
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert code in [e["code"] for e in body["errors"]], body


# (field definition, value that must be refused, expected code or None)
INVALID_VALUES = [
    ({"type": "text", "options": {"min": 3}}, "ab", "too_short"),
    ({"type": "text", "options": {"max": 3}}, "abcd", "too_long"),
    ({"type": "text", "options": {"pattern": "^[a-z]+$"}}, "abc1", "pattern"),
    ({"type": "number", "options": {"min": 0}}, -0.5, "too_small"),
    ({"type": "number", "options": {"max": 10}}, 10.01, "too_large"),
    ({"type": "number", "options": {"integer": True}}, 1.5, "not_integer"),
    ({"type": "select", "options": {"values": ["a", "b"]}}, "c", "invalid_choice"),
    ({"type": "select", "options": {"values": ["a", "b"]}}, "A", "invalid_choice"),
    (
        {"type": "select", "options": {"values": ["a", "b"], "multiple": True}},
        ["a", "z"],
        "invalid_choice",
    ),
    ({"type": "email"}, "not-an-email", "invalid_email"),
    ({"type": "email"}, "a@b@c.com", "invalid_email"),
    ({"type": "email"}, "x" * 250 + "@example.com", None),
    ({"type": "url"}, "example.com", "invalid_url"),
    ({"type": "url"}, "javascript:alert(1)", "invalid_url"),
    ({"type": "url"}, "ftp://example.com/file", "invalid_url"),
    ({"type": "url"}, "http://", "invalid_url"),
    ({"type": "url"}, "https://example.com/" + "a" * 3000, "too_long"),
    ({"type": "date"}, "yesterday", "invalid_date"),
    ({"type": "date"}, "2024-02-30T00:00:00Z", "invalid_date"),
    ({"type": "date"}, "2024-01-01T25:00:00Z", "invalid_date"),
    (
        {"type": "date", "options": {"min": "2024-01-01T00:00:00Z"}},
        "2023-12-31T23:59:59Z",
        "too_early",
    ),
    (
        {"type": "date", "options": {"max": "2024-01-01T00:00:00Z"}},
        "2024-01-01T00:00:00.001Z",
        "too_late",
    ),
    (
        {"type": "json", "options": {"max_size": 10}},
        {"key": "a long value"},
        "too_large",
    ),
    ({"type": "json", "options": {"max_size": 10}}, "x" * 20, "too_large"),
]


@pytest.mark.parametrize(
    "definition, value, code",
    INVALID_VALUES,
    ids=[f"{d['type']}-{i}" for i, (d, _, _) in enumerate(INVALID_VALUES)],
)
def test_a_value_outside_the_field_definition_is_400_naming_the_field(
    schema_db, admin, definition, value, code
):
    create_collection(admin, "things", [{"name": "v", **definition}])

    response = admin.post(RECORDS.format("things"), {"v": value}, format="json")

    assert_refused(response, 400, "v", code)
    assert stored_rows("things") == 0


@pytest.mark.parametrize(
    "definition, value, code",
    INVALID_VALUES,
    ids=[f"{d['type']}-{i}" for i, (d, _, _) in enumerate(INVALID_VALUES)],
)
def test_an_invalid_patch_is_400_and_leaves_the_record_unchanged(
    schema_db, admin, definition, value, code
):
    create_collection(
        admin,
        "things",
        [{"name": "v", **definition}, {"name": "other", "type": "text"}],
    )
    record = admin.post(
        RECORDS.format("things"), {"other": "before"}, format="json"
    ).json()

    response = admin.patch(
        f"{RECORDS.format('things')}/{record['id']}",
        {"v": value, "other": "after"},
        format="json",
    )

    assert_refused(response, 400, "v", code)
    assert admin.get(f"{RECORDS.format('things')}/{record['id']}").json() == record


VALID_EDGE_VALUES = [
    ({"type": "text", "options": {"min": 3, "max": 3}}, "abc", "abc"),
    ({"type": "text", "options": {"max": 2}}, "日本", "日本"),
    ({"type": "number", "options": {"min": 0, "max": 10}}, 0, 0),
    ({"type": "number", "options": {"min": 0, "max": 10}}, 10, 10),
    ({"type": "number", "options": {"integer": True}}, 2.0, 2),
    ({"type": "number"}, 2**53, 2**53),
    ({"type": "number"}, -(2**53), -(2**53)),
    (
        {"type": "select", "options": {"values": ["a", "b"], "multiple": True}},
        ["b", "a", "b"],
        ["b", "a"],
    ),
    (
        {"type": "select", "options": {"values": ["a", "b"], "multiple": True}},
        "a",
        ["a"],
    ),
    ({"type": "email"}, "Someone+tag@Example.COM", "Someone+tag@Example.COM"),
    ({"type": "url"}, "https://例え.jp/パス", "https://例え.jp/パス"),
    ({"type": "date"}, "2024-06-01", "2024-06-01T00:00:00.000Z"),
    ({"type": "date"}, "2024-06-01T10:00:00.123456+05:30", "2024-06-01T04:30:00.123Z"),
    ({"type": "date"}, "0005-01-02T03:04:05Z", "0005-01-02T03:04:05.000Z"),
    ({"type": "date"}, "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
    ({"type": "json", "options": {"max_size": 10}}, [1, 2, 3], [1, 2, 3]),
    ({"type": "json"}, 2**63, 2**63),
    ({"type": "json"}, "ünïcødé ✓ 😀", "ünïcødé ✓ 😀"),
]


@pytest.mark.parametrize(
    "definition, value, rendered",
    VALID_EDGE_VALUES,
    ids=[f"{d['type']}-{i}" for i, (d, _, _) in enumerate(VALID_EDGE_VALUES)],
)
def test_values_on_the_edge_of_the_definition_are_accepted(
    schema_db, admin, definition, value, rendered
):
    create_collection(admin, "things", [{"name": "v", **definition}])
    response = admin.post(RECORDS.format("things"), {"v": value}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["v"] == rendered
    fetched = admin.get(f"{RECORDS.format('things')}/{response.json()['id']}").json()
    assert fetched["v"] == rendered


# --- required ----------------------------------------------------------------------

REQUIRED_EMPTY = [
    ("text", {}, ""),
    ("text", {}, None),
    ("number", {}, None),
    ("bool", {}, False),
    ("bool", {}, None),
    ("email", {}, ""),
    ("url", {}, ""),
    ("date", {}, ""),
    ("select", {"values": ["a"]}, ""),
    ("select", {"values": ["a"], "multiple": True}, []),
    ("json", {}, None),
    ("relation", {"collection": "users"}, ""),
    ("relation", {"collection": "users", "multiple": True}, []),
]


@pytest.mark.parametrize("type_name, options, empty", REQUIRED_EMPTY)
def test_a_required_field_refuses_a_missing_value(
    schema_db, admin, type_name, options, empty
):
    create_collection(
        admin,
        "things",
        [
            {"name": "v", "type": type_name, "required": True, "options": options},
            {"name": "other", "type": "text"},
        ],
    )
    response = admin.post(RECORDS.format("things"), {"other": "x"}, format="json")
    assert_refused(response, 400, "v", "required")
    assert stored_rows("things") == 0


@pytest.mark.parametrize("type_name, options, empty", REQUIRED_EMPTY)
def test_a_required_field_refuses_an_empty_value(
    schema_db, admin, type_name, options, empty
):
    create_collection(
        admin,
        "things",
        [
            {"name": "v", "type": type_name, "required": True, "options": options},
        ],
    )
    response = admin.post(RECORDS.format("things"), {"v": empty}, format="json")
    assert_refused(response, 400, "v", "required")
    assert stored_rows("things") == 0


def test_a_required_number_accepts_zero(schema_db, admin):
    create_collection(
        admin, "things", [{"name": "v", "type": "number", "required": True}]
    )
    response = admin.post(RECORDS.format("things"), {"v": 0}, format="json")
    assert response.status_code == 201
    assert response.json()["v"] == 0


def test_a_patch_may_leave_out_a_required_field_but_not_empty_it(schema_db, admin):
    create_collection(
        admin,
        "things",
        [
            {"name": "v", "type": "text", "required": True},
            {"name": "other", "type": "text"},
        ],
    )
    record = admin.post(RECORDS.format("things"), {"v": "set"}, format="json").json()
    url = f"{RECORDS.format('things')}/{record['id']}"

    assert admin.patch(url, {"other": "x"}, format="json").status_code == 200
    assert_refused(admin.patch(url, {"v": ""}, format="json"), 400, "v", "required")
    assert admin.get(url).json()["v"] == "set"


def test_every_invalid_field_is_reported_at_once(schema_db, admin):
    create_collection(
        admin,
        "things",
        [
            {"name": "a", "type": "text", "required": True},
            {"name": "b", "type": "number", "options": {"max": 1}},
            {"name": "c", "type": "email"},
        ],
    )
    response = admin.post(
        RECORDS.format("things"), {"b": 5, "c": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert {e["param"] for e in response.json()["errors"]} == {"a", "b", "c"}


# --- relations must point at existing records ------------------------------------------


@pytest.mark.parametrize("multiple", [False, True])
def test_a_relation_to_a_missing_record_is_400_naming_the_field(
    schema_db, admin, multiple
):
    create_collection(admin, "tags", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "posts",
        [
            {
                "name": "tag",
                "type": "relation",
                "options": {"collection": "tags", "multiple": multiple},
            },
        ],
    )
    existing = admin.post(RECORDS.format("tags"), {"label": "x"}, format="json").json()[
        "id"
    ]
    value = [existing, "doesnotexist123"] if multiple else "doesnotexist123"

    response = admin.post(RECORDS.format("posts"), {"tag": value}, format="json")

    assert_refused(response, 400, "tag", "relation_not_found")
    assert stored_rows("posts") == 0


def test_a_relation_to_a_missing_user_is_400(schema_db, admin):
    create_collection(
        admin,
        "posts",
        [
            {"name": "author", "type": "relation", "options": {"collection": "users"}},
        ],
    )
    response = admin.post(
        RECORDS.format("posts"), {"author": "nosuchuser0000"}, format="json"
    )
    assert_refused(response, 400, "author", "relation_not_found")
    assert stored_rows("posts") == 0


def test_a_patch_to_a_missing_related_record_keeps_the_old_relations(schema_db, admin):
    create_collection(admin, "tags", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "posts",
        [
            {
                "name": "tags",
                "type": "relation",
                "options": {"collection": "tags", "multiple": True},
            },
        ],
    )
    tag = admin.post(RECORDS.format("tags"), {}, format="json").json()["id"]
    post = admin.post(RECORDS.format("posts"), {"tags": [tag]}, format="json").json()
    url = f"{RECORDS.format('posts')}/{post['id']}"

    response = admin.patch(url, {"tags": ["doesnotexist123"]}, format="json")

    assert_refused(response, 400, "tags", "relation_not_found")
    assert admin.get(url).json()["tags"] == [tag]


def test_max_select_limits_a_multiple_relation(schema_db, admin):
    create_collection(admin, "tags", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "posts",
        [
            {
                "name": "tags",
                "type": "relation",
                "options": {"collection": "tags", "multiple": True, "max_select": 1},
            },
        ],
    )
    a = admin.post(RECORDS.format("tags"), {}, format="json").json()["id"]
    b = admin.post(RECORDS.format("tags"), {}, format="json").json()["id"]
    response = admin.post(RECORDS.format("posts"), {"tags": [a, b]}, format="json")
    assert_refused(response, 400, "tags", "too_many")
    assert stored_rows("posts") == 0


# --- unique ------------------------------------------------------------------------------

UNIQUE_CASES = [
    ("text", {}, "same"),
    ("number", {}, 7),
    ("email", {}, "same@example.com"),
    ("url", {}, "https://example.com"),
    ("date", {}, "2024-01-01T00:00:00.000Z"),
    ("select", {"values": ["a", "b"]}, "a"),
]


@pytest.mark.parametrize("type_name, options, value", UNIQUE_CASES)
def test_a_unique_field_refuses_a_second_equal_value_with_409(
    schema_db, admin, type_name, options, value
):
    create_collection(
        admin,
        "things",
        [
            {"name": "v", "type": type_name, "unique": True, "options": options},
        ],
    )
    assert (
        admin.post(RECORDS.format("things"), {"v": value}, format="json").status_code
        == 201
    )

    response = admin.post(RECORDS.format("things"), {"v": value}, format="json")

    assert_refused(response, 409, "v", "unique_violation")
    assert stored_rows("things") == 1


def test_a_unique_field_refuses_a_patch_to_another_records_value(schema_db, admin):
    create_collection(admin, "things", [{"name": "v", "type": "text", "unique": True}])
    admin.post(RECORDS.format("things"), {"v": "taken"}, format="json")
    other = admin.post(RECORDS.format("things"), {"v": "mine"}, format="json").json()
    url = f"{RECORDS.format('things')}/{other['id']}"

    assert_refused(
        admin.patch(url, {"v": "taken"}, format="json"), 409, "v", "unique_violation"
    )
    assert admin.get(url).json()["v"] == "mine"
    assert admin.patch(url, {"v": "mine"}, format="json").status_code == 200


def test_a_unique_field_allows_many_empty_values(schema_db, admin):
    create_collection(admin, "things", [{"name": "v", "type": "text", "unique": True}])
    assert admin.post(RECORDS.format("things"), {}, format="json").status_code == 201
    assert (
        admin.post(RECORDS.format("things"), {"v": ""}, format="json").status_code
        == 201
    )
    assert stored_rows("things") == 2


def test_a_unique_relation_refuses_a_second_reference_to_the_same_record(
    schema_db, admin
):
    create_collection(
        admin,
        "profiles",
        [
            {
                "name": "owner",
                "type": "relation",
                "unique": True,
                "options": {"collection": "profiles"},
            },
        ],
    )
    target = admin.post(RECORDS.format("profiles"), {}, format="json").json()["id"]
    assert (
        admin.post(
            RECORDS.format("profiles"), {"owner": target}, format="json"
        ).status_code
        == 201
    )
    response = admin.post(RECORDS.format("profiles"), {"owner": target}, format="json")
    assert_refused(response, 409, "owner", "unique_violation")
    assert stored_rows("profiles") == 2


def test_a_unique_index_over_two_fields_refuses_a_duplicate_pair_with_409(
    schema_db, admin
):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "things",
            "fields": [{"name": "a", "type": "text"}, {"name": "b", "type": "text"}],
            "indexes": [{"fields": ["a", "b"], "unique": True}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (
        admin.post(
            RECORDS.format("things"), {"a": "x", "b": "y"}, format="json"
        ).status_code
        == 201
    )
    assert (
        admin.post(
            RECORDS.format("things"), {"a": "x", "b": "z"}, format="json"
        ).status_code
        == 201
    )

    duplicate = admin.post(
        RECORDS.format("things"), {"a": "x", "b": "y"}, format="json"
    )

    assert duplicate.status_code == 409, duplicate.content
    assert duplicate.json()["errors"][0]["code"] == "unique_violation"
    assert stored_rows("things") == 2
