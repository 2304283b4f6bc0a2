"""The schema API: who may use it, which names and options it refuses, and the conflicts
it reports (unique data, relations into a collection, the built-in `users` collection)."""

from __future__ import annotations

import pytest

from apps.collections.models import Collection, Field
from tests.collections.schema_helpers import (
    COLLECTIONS,
    add_record,
    column_of,
    columns,
    create_collection,
    error_of,
    field_by_name,
    fields_payload,
    get_collection,
    patch_collection,
    snapshot,
    table_names,
    table_of,
    unique_sets,
)
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login


def schema_state() -> tuple:
    """Everything a refused schema request must leave untouched."""
    return (
        sorted(table_names()),
        sorted(Collection.objects.values_list("name", "schema_version")),
        sorted(Field.objects.values_list("collection__name", "name", "type")),
    )


def assert_error(response, status: int, code: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = error_of(response)
    assert error["code"] == code, error
    if param is not None:
        assert error.get("param") == param, error
    return error


# --- access: actor x action -----------------------------------------------------------------

ACTORS = {
    "anonymous": 401,
    "bad_token": 401,
    "app_user": 403,
    "key_records_read": 403,
    "key_records_write": 403,
    "key_records_read_write": 403,
    "key_schema": None,
    "superuser": None,
}

#: action -> (method, path, body, status when allowed, whether it changes the schema)
ACTIONS = {
    "list": ("get", COLLECTIONS, None, 200, False),
    "create": (
        "post",
        COLLECTIONS,
        {"name": "fresh", "fields": [{"name": "title", "type": "text"}]},
        201,
        True,
    ),
    "get": ("get", f"{COLLECTIONS}/posts", None, 200, False),
    "patch": (
        "patch",
        f"{COLLECTIONS}/posts",
        {"rules": {"list": ""}},
        200,
        True,
    ),
    "delete": ("delete", f"{COLLECTIONS}/posts", None, 204, True),
    "export": ("get", "/api/v1/schema", None, 200, False),
    "import": (
        "post",
        "/api/v1/schema/import",
        {
            "collections": [
                {"name": "imported", "fields": [{"name": "body", "type": "text"}]}
            ]
        },
        200,
        True,
    ),
}

SCENARIOS = [
    pytest.param(actor, action, status or ACTIONS[action][3], id=f"{actor}-{action}")
    for actor, status in ACTORS.items()
    for action in ACTIONS
]


@pytest.fixture
def posts(schema_db, superuser):
    """A collection whose name and field name must never leak to refused callers."""
    from apps.collections import services

    return services.collection_create(
        actor=superuser,
        data={"name": "posts", "fields": [{"name": "secret_field", "type": "text"}]},
    )


@pytest.fixture
def actor_client(request, anon, key_client, make_user):
    from tests.conftest import USER_PASSWORD, client_with

    def make(actor: str):
        if actor == "anonymous":
            return anon
        if actor == "bad_token":
            return client_with("not-a-real-token")
        if actor == "app_user":
            user = make_user("app@example.com")
            return client_with(login(user.email, USER_PASSWORD))
        if actor == "superuser":
            return client_with(login(ADMIN_EMAIL, ADMIN_PASSWORD))
        scopes = {
            "key_records_read": ["records:read"],
            "key_records_write": ["records:write"],
            "key_records_read_write": ["records:read", "records:write"],
            "key_schema": ["schema"],
        }[actor]
        return key_client(*scopes)

    return make


@pytest.mark.parametrize(("actor", "action", "status"), SCENARIOS)
def test_schema_endpoint_access(posts, actor_client, actor, action, status):
    method, path, body, ok_status, mutates = ACTIONS[action]
    client = actor_client(actor)
    before = schema_state()
    response = getattr(client, method)(path, body, format="json")
    assert response.status_code == status, response.content
    if status == ok_status:
        assert (schema_state() != before) == mutates
        return
    assert schema_state() == before, "a refused request changed the schema"
    error = error_of(response)
    assert error["code"] in {"not_authenticated", "invalid_credentials", "forbidden"}
    content = response.content.decode()
    for leak in ("posts", "secret_field", posts.id, "c_", "Traceback"):
        assert leak not in content, leak
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_schema_key_lists_definitions_with_their_fields(posts, key_client):
    listed = key_client("schema").get(COLLECTIONS).json()["items"]
    assert [c["name"] for c in listed] == ["users", "posts"]
    assert field_by_name(listed[1], "secret_field")["type"] == "text"


def test_refused_create_leaves_no_table_and_no_row(schema_db, key_client, user_client):
    before = schema_state()
    body = {"name": "fresh", "fields": [{"name": "title", "type": "text"}]}
    assert (
        key_client("records:write").post(COLLECTIONS, body, format="json").status_code
        == 403
    )
    assert user_client.post(COLLECTIONS, body, format="json").status_code == 403
    assert schema_state() == before
    assert not Collection.objects.filter(name_key="fresh").exists()


def test_unknown_collection_is_404_in_the_envelope(schema_db, admin):
    for method in ("get", "patch", "delete"):
        response = getattr(admin, method)(f"{COLLECTIONS}/nothing", {}, format="json")
        assert_error(response, 404, "collection_not_found")


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_impossible_collection_names_in_the_path_are_404(schema_db, admin, method):
    """A NUL byte would make PostgreSQL fail the query: it must be a plain 404."""
    for name in ("a%00b", "x" * 200, "no-such"):
        response = getattr(admin, method)(f"{COLLECTIONS}/{name}", {}, format="json")
        assert_error(response, 404, "collection_not_found")


def test_relation_target_with_a_nul_byte_is_a_missing_collection(schema_db, admin):
    field = {"name": "link", "type": "relation", "options": {"collection": "a\x00b"}}
    response = admin.post(
        COLLECTIONS, {"name": "posts", "fields": [field]}, format="json"
    )
    assert_error(response, 400, "invalid_option", "fields.0.options.collection")


# --- names ------------------------------------------------------------------------------

BAD_COLLECTION_NAMES = [
    pytest.param("schema", "reserved_name", id="system-name"),
    pytest.param("Batch", "reserved_name", id="system-name-any-case"),
    pytest.param("a" * 64, "name_too_long", id="64-characters"),
    pytest.param("my posts", "invalid_name", id="space"),
    pytest.param("pósts", "invalid_name", id="unicode"),
    pytest.param("1posts", "invalid_name", id="leading-digit"),
    pytest.param("_posts", "invalid_name", id="leading-underscore"),
    pytest.param("posts-2", "invalid_name", id="hyphen"),
    pytest.param("posts;drop", "invalid_name", id="sql-punctuation"),
]


@pytest.mark.parametrize(("name", "code"), BAD_COLLECTION_NAMES)
def test_bad_collection_name_is_refused_with_the_reason(schema_db, admin, name, code):
    before = schema_state()
    response = admin.post(COLLECTIONS, {"name": name, "fields": []}, format="json")
    error = assert_error(response, 400, code, "name")
    assert name[:20] in error["message"]
    assert schema_state() == before


BAD_FIELD_NAMES = [
    pytest.param("true", "reserved_name", id="expression-word-true"),
    pytest.param("NULL", "reserved_name", id="expression-word-any-case"),
    pytest.param("id", "reserved_name", id="system-id"),
    pytest.param("created", "reserved_name", id="system-created"),
    pytest.param("updated", "reserved_name", id="system-updated"),
    pytest.param("expand", "reserved_name", id="query-parameter"),
    pytest.param("f" * 64, "name_too_long", id="64-characters"),
    pytest.param("first name", "invalid_name", id="space"),
    pytest.param("título", "invalid_name", id="unicode"),
    pytest.param("2nd", "invalid_name", id="leading-digit"),
    pytest.param("a.b", "invalid_name", id="dot"),
    pytest.param('a"b', "invalid_name", id="quote"),
]


@pytest.mark.parametrize(("name", "code"), BAD_FIELD_NAMES)
def test_bad_field_name_is_refused_with_the_reason(schema_db, admin, name, code):
    before = schema_state()
    fields = [{"name": "fine", "type": "text"}, {"name": name, "type": "text"}]
    response = admin.post(
        COLLECTIONS, {"name": "posts", "fields": fields}, format="json"
    )
    error = assert_error(response, 400, code, "fields.1.name")
    assert name[:20] in error["message"]
    assert schema_state() == before


def test_names_of_63_characters_are_accepted(schema_db, admin):
    name, field = "c" * 63, "f" * 63
    created = create_collection(admin, name, [{"name": field, "type": "text"}])
    assert created["name"] == name
    assert column_of(created, field) in columns(table_of(created))


def test_missing_names_are_refused(schema_db, admin):
    assert_error(
        admin.post(COLLECTIONS, {"fields": []}, format="json"), 400, "required", "name"
    )
    response = admin.post(
        COLLECTIONS, {"name": "posts", "fields": [{"type": "text"}]}, format="json"
    )
    assert_error(response, 400, "required", "fields.0.name")


def test_field_names_colliding_without_case_are_refused(schema_db, admin):
    before = schema_state()
    fields = [{"name": "Title", "type": "text"}, {"name": "title", "type": "text"}]
    response = admin.post(
        COLLECTIONS, {"name": "posts", "fields": fields}, format="json"
    )
    error = assert_error(response, 400, "duplicate_name", "fields.1.name")
    assert "Title" in error["message"] and "title" in error["message"]
    assert schema_state() == before


def test_rename_onto_another_field_name_is_refused(schema_db, admin):
    posts = create_collection(
        admin,
        "posts",
        [{"name": "title", "type": "text"}, {"name": "body", "type": "text"}],
    )
    payload = fields_payload(posts)
    payload[1]["name"] = "TITLE"
    response = admin.patch(f"{COLLECTIONS}/posts", {"fields": payload}, format="json")
    assert_error(response, 400, "duplicate_name", "fields.1.name")
    assert get_collection(admin, "posts") == posts


def test_collection_name_taken_in_another_case_is_a_conflict(schema_db, admin):
    create_collection(admin, "posts")
    before = schema_state()
    response = admin.post(COLLECTIONS, {"name": "Posts", "fields": []}, format="json")
    assert_error(response, 409, "name_taken", "name")
    assert schema_state() == before


def test_renaming_a_collection_onto_a_taken_name_is_a_conflict(schema_db, admin):
    create_collection(admin, "posts")
    create_collection(admin, "notes")
    response = admin.patch(f"{COLLECTIONS}/notes", {"name": "POSTS"}, format="json")
    assert_error(response, 409, "name_taken", "name")
    assert get_collection(admin, "notes")["name"] == "notes"


def test_renaming_a_collection_changes_only_its_case(schema_db, admin):
    create_collection(admin, "posts")
    renamed = patch_collection(admin, "posts", {"name": "Posts"})
    assert renamed["name"] == "Posts"
    assert get_collection(admin, "posts")["name"] == "Posts"


# --- types and options --------------------------------------------------------------------

BAD_FIELDS = [
    pytest.param({"type": "texty"}, "invalid_type", "fields.0.type", id="unknown-type"),
    pytest.param({}, "invalid_type", "fields.0.type", id="missing-type"),
    pytest.param(
        {"type": "text", "options": {"maxLength": 5}},
        "invalid_option",
        "fields.0.options.maxLength",
        id="unknown-option",
    ),
    pytest.param(
        {"type": "number", "options": {"values": ["a"]}},
        "invalid_option",
        "fields.0.options.values",
        id="option-of-another-type",
    ),
    pytest.param(
        {"type": "text", "options": {"min": 10, "max": 2}},
        "invalid_option",
        "fields.0.options.min",
        id="text-min-over-max",
    ),
    pytest.param(
        {"type": "number", "options": {"min": 5, "max": 1}},
        "invalid_option",
        "fields.0.options.min",
        id="number-min-over-max",
    ),
    pytest.param(
        {"type": "text", "options": {"min": -1}},
        "invalid_option",
        "fields.0.options.min",
        id="negative-length",
    ),
    pytest.param(
        {"type": "text", "options": {"pattern": "([a-z"}},
        "invalid_option",
        "fields.0.options.pattern",
        id="invalid-regex",
    ),
    pytest.param(
        {"type": "text", "options": {"max": "10"}},
        "invalid_option",
        "fields.0.options.max",
        id="option-of-wrong-type",
    ),
    pytest.param(
        {"type": "number", "options": {"integer": "yes"}},
        "invalid_option",
        "fields.0.options.integer",
        id="bool-option-as-string",
    ),
    pytest.param(
        {"type": "select"},
        "invalid_option",
        "fields.0.options.values",
        id="select-without-values",
    ),
    pytest.param(
        {"type": "select", "options": {"values": []}},
        "invalid_option",
        "fields.0.options.values",
        id="select-with-empty-values",
    ),
    pytest.param(
        {"type": "select", "options": {"values": ["a", "a"]}},
        "invalid_option",
        "fields.0.options.values",
        id="select-with-duplicate-values",
    ),
    pytest.param(
        {"type": "relation", "options": {"collection": "nowhere"}},
        "invalid_option",
        "fields.0.options.collection",
        id="relation-to-missing-collection",
    ),
    pytest.param(
        {"type": "relation"},
        "invalid_option",
        "fields.0.options.collection",
        id="relation-without-target",
    ),
    pytest.param(
        {
            "type": "relation",
            "options": {"collection": "users", "multiple": True},
            "unique": True,
        },
        "invalid_option",
        "fields.0.unique",
        id="unique-multiple-relation",
    ),
    pytest.param(
        {"type": "json", "unique": True},
        "invalid_option",
        "fields.0.unique",
        id="unique-json",
    ),
    pytest.param(
        {"type": "date", "options": {"min": "yesterday"}},
        "invalid_option",
        "fields.0.options.min",
        id="date-bound-not-a-date",
    ),
    pytest.param(
        {"type": "text", "required": "yes"},
        "invalid_type",
        "fields.0.required",
        id="required-not-a-bool",
    ),
    pytest.param(
        {"type": "text", "default": "x"},
        "unknown_field",
        "fields.0.default",
        id="unknown-field-key",
    ),
    pytest.param(
        {"type": "text", "options": ["min"]},
        "invalid_option",
        "fields.0.options",
        id="options-not-an-object",
    ),
]


@pytest.mark.parametrize(("field", "code", "param"), BAD_FIELDS)
def test_bad_field_definition_is_refused_naming_the_option(
    schema_db, admin, field, code, param
):
    before = schema_state()
    body = {"name": "posts", "fields": [{"name": "value", **field}]}
    assert_error(admin.post(COLLECTIONS, body, format="json"), 400, code, param)
    assert schema_state() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="body-not-an-object"),
        pytest.param({"name": "posts", "fields": {}}, id="fields-not-a-list"),
        pytest.param({"name": "posts", "fields": ["title"]}, id="field-not-an-object"),
        pytest.param({"name": "posts", "type": "view"}, id="unknown-collection-type"),
        pytest.param({"name": "posts", "type": "auth"}, id="second-auth-collection"),
        pytest.param({"name": "posts", "rules": {"read": ""}}, id="unknown-rule"),
        pytest.param({"name": "posts", "rules": {"list": 1}}, id="rule-not-a-string"),
        pytest.param(
            {"name": "posts", "indexes": [{"fields": ["nope"]}]},
            id="index-on-unknown-field",
        ),
        pytest.param({"name": "posts", "indexes": [{"fields": []}]}, id="empty-index"),
        pytest.param({"name": "posts", "indexes": {}}, id="indexes-not-a-list"),
        pytest.param({"name": "posts", "colour": "red"}, id="unknown-key"),
    ],
)
def test_malformed_create_is_a_400_in_the_envelope(schema_db, admin, body):
    before = schema_state()
    response = admin.post(COLLECTIONS, body, format="json")
    assert response.status_code == 400, response.content
    error_of(response)
    assert schema_state() == before


def test_index_on_a_multiple_relation_is_refused(schema_db, admin):
    body = {
        "name": "posts",
        "fields": [
            {
                "name": "tags",
                "type": "relation",
                "options": {"collection": "users", "multiple": True},
            }
        ],
        "indexes": [{"fields": ["tags"]}],
    }
    assert_error(
        admin.post(COLLECTIONS, body, format="json"), 400, "invalid", "indexes.0.fields"
    )


def test_unknown_field_id_in_a_patch_is_refused(schema_db, admin):
    create_collection(admin, "posts", [{"name": "title", "type": "text"}])
    body = {"fields": [{"id": "doesnotexist123", "name": "title", "type": "text"}]}
    response = admin.patch(f"{COLLECTIONS}/posts", body, format="json")
    assert_error(response, 400, "unknown_field_id", "fields.0.id")


def test_type_of_a_collection_cannot_change(schema_db, admin):
    create_collection(admin, "posts")
    response = admin.patch(f"{COLLECTIONS}/posts", {"type": "auth"}, format="json")
    assert_error(response, 400, "immutable", "type")


# --- unique data, relations into a collection ------------------------------------------------


@pytest.fixture
def codes(schema_db, admin) -> dict:
    """A collection holding duplicate values in `code` (and empty `tag`s)."""
    codes = create_collection(
        admin,
        "codes",
        [{"name": "code", "type": "text"}, {"name": "tag", "type": "text"}],
    )
    for code in ("a", "a", "b"):
        add_record(admin, "codes", {"code": code})
    return codes


def assert_conflict_changes_nothing(admin, collection: dict, body: dict) -> None:
    definition = get_collection(admin, collection["name"])
    before = snapshot(table_of(collection))
    response = admin.patch(f"{COLLECTIONS}/{collection['name']}", body, format="json")
    error = assert_error(response, 409, "constraint_violation")
    assert "SELECT" not in error["message"] and "c_" not in error["message"]
    assert get_collection(admin, collection["name"]) == definition
    assert snapshot(table_of(collection)) == before


def test_unique_field_over_duplicate_data_is_a_conflict(codes, admin):
    payload = fields_payload(codes)
    payload[0]["unique"] = True
    payload.append({"name": "added", "type": "number"})
    assert_conflict_changes_nothing(admin, codes, {"fields": payload})


def test_unique_index_over_duplicate_data_is_a_conflict(codes, admin):
    body = {
        "fields": fields_payload(codes) + [{"name": "added", "type": "number"}],
        "indexes": [{"fields": ["tag"]}, {"fields": ["code"], "unique": True}],
    }
    assert_conflict_changes_nothing(admin, codes, body)


def test_unique_composite_index_over_duplicate_pairs_is_a_conflict(codes, admin):
    for row in admin.get(f"{COLLECTIONS}/codes/records").json()["items"]:
        response = admin.patch(
            f"{COLLECTIONS}/codes/records/{row['id']}", {"tag": "t"}, format="json"
        )
        assert response.status_code == 200, response.content
    body = {"indexes": [{"fields": ["code", "tag"], "unique": True}]}
    assert_conflict_changes_nothing(admin, codes, body)


def test_unique_over_empty_values_is_allowed(codes, admin):
    payload = fields_payload(codes)
    payload[1]["unique"] = True
    patch_collection(admin, "codes", {"fields": payload})
    assert (column_of(codes, "tag"),) in unique_sets(table_of(codes))


def test_unique_index_after_duplicates_are_gone_is_applied(codes, admin):
    rows = admin.get(f"{COLLECTIONS}/codes/records").json()["items"]
    duplicate = next(r for r in rows if r["code"] == "a")
    admin.delete(f"{COLLECTIONS}/codes/records/{duplicate['id']}")
    updated = patch_collection(
        admin, "codes", {"indexes": [{"fields": ["code"], "unique": True}]}
    )
    assert updated["indexes"] == [{"fields": ["code"], "unique": True}]
    assert (column_of(codes, "code"),) in unique_sets(table_of(codes))


def test_dropping_a_relation_target_is_a_conflict(schema_db, admin):
    targets = create_collection(admin, "targets", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "things",
        [{"name": "target", "type": "relation", "options": {"collection": "targets"}}],
    )
    before = schema_state()
    response = admin.delete(f"{COLLECTIONS}/targets")
    error = assert_error(response, 409, "collection_in_use")
    assert "things.target" in error["message"]
    assert schema_state() == before
    assert table_of(targets) in table_names()


def test_target_can_be_dropped_once_the_relation_is_removed(schema_db, admin):
    targets = create_collection(admin, "targets")
    create_collection(
        admin,
        "things",
        [
            {
                "name": "targets",
                "type": "relation",
                "options": {"collection": "targets", "multiple": True},
            }
        ],
    )
    patch_collection(admin, "things", {"fields": []})
    assert admin.delete(f"{COLLECTIONS}/targets").status_code == 204
    assert table_of(targets) not in table_names()


def test_a_self_relation_does_not_block_dropping(schema_db, admin):
    nodes = create_collection(
        admin,
        "nodes",
        [{"name": "parent", "type": "relation", "options": {"collection": "nodes"}}],
    )
    assert admin.delete(f"{COLLECTIONS}/nodes").status_code == 204
    assert table_of(nodes) not in table_names()


# --- the built-in `users` collection ---------------------------------------------------------


def test_users_collection_cannot_be_dropped(schema_db, admin):
    before = schema_state()
    assert_error(admin.delete(f"{COLLECTIONS}/users"), 400, "system_collection")
    assert schema_state() == before
    assert "baas_users" in table_names()


def test_users_collection_cannot_be_renamed(schema_db, admin):
    response = admin.patch(f"{COLLECTIONS}/users", {"name": "members"}, format="json")
    assert_error(response, 400, "system_collection", "name")
    assert get_collection(admin, "users")["name"] == "users"


@pytest.mark.parametrize("name", ["email", "password", "is_superuser", "verified"])
def test_users_fields_cannot_shadow_account_columns(schema_db, admin, name):
    users = get_collection(admin, "users")
    body = {"fields": fields_payload(users) + [{"name": name, "type": "text"}]}
    response = admin.patch(f"{COLLECTIONS}/users", body, format="json")
    assert_error(response, 400, "reserved_name", f"fields.{len(users['fields'])}.name")


def test_users_collection_gets_and_loses_an_extra_field(schema_db, admin, superuser):
    before = set(columns("baas_users"))
    users = get_collection(admin, "users")
    updated = patch_collection(
        admin,
        "users",
        {"fields": fields_payload(users) + [{"name": "nickname", "type": "text"}]},
    )
    column = column_of(updated, "nickname")
    assert set(columns("baas_users")) - before == {column}
    assert columns("baas_users")[column] == ("TextField", True)
    record = admin.patch(
        f"{COLLECTIONS}/users/records/{superuser.pk}",
        {"nickname": "boss"},
        format="json",
    )
    assert record.status_code == 200, record.content
    assert record.json()["nickname"] == "boss"
    # The account itself survives the table change: the superuser still logs in.
    login(ADMIN_EMAIL, ADMIN_PASSWORD)

    patch_collection(admin, "users", {"fields": fields_payload(users)})
    assert set(columns("baas_users")) == before
    login(ADMIN_EMAIL, ADMIN_PASSWORD)
