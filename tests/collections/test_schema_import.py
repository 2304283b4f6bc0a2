"""Schema export and import: round trips, dry runs that change nothing, all or nothing."""

from __future__ import annotations

import pytest

from apps.collections.models import Collection, Field
from tests.collections.schema_helpers import (
    add_record,
    column_of,
    columns,
    create_collection,
    error_of,
    field_by_name,
    fields_payload,
    foreign_keys,
    get_collection,
    junction_of,
    patch_collection,
    snapshot,
    table_names,
    table_of,
)
from tests.conftest import drop_dynamic_schema

EXPORT = "/api/v1/schema"
IMPORT = "/api/v1/schema/import"


def schema_state() -> tuple:
    return (
        sorted(table_names()),
        sorted(
            Collection.objects.values_list(
                "id", "name", "schema_version", "rules", "indexes"
            )
        ),
        sorted(
            Field.objects.values_list("id", "collection_id", "name", "type", "options")
        ),
    )


def without_ids(document: dict) -> list[dict]:
    """Definitions as another server would hold them: ids and versions are local."""
    result = []
    for collection in document["collections"]:
        collection = {
            k: v for k, v in collection.items() if k not in ("id", "schema_version")
        }
        collection["fields"] = [
            {k: v for k, v in f.items() if k != "id"} for f in collection["fields"]
        ]
        result.append(collection)
    return result


def do_import(client, document: dict, *, dry_run: bool = False, status: int = 200):
    path = f"{IMPORT}?dry_run=1" if dry_run else IMPORT
    response = client.post(path, document, format="json")
    assert response.status_code == status, response.content
    return response


def relation(name: str, target: str, multiple: bool = False) -> dict:
    return {
        "name": name,
        "type": "relation",
        "options": {"collection": target, "multiple": multiple},
    }


@pytest.fixture
def blog(schema_db, admin) -> dict:
    """Two related collections with every kind of field, rules and indexes, and some data."""
    authors = create_collection(
        admin,
        "authors",
        [{"name": "name", "type": "text", "required": True, "options": {"max": 80}}],
        rules={"list": "", "view": ""},
    )
    users = get_collection(admin, "users")
    patch_collection(
        admin,
        "users",
        {"fields": fields_payload(users) + [{"name": "nickname", "type": "text"}]},
    )
    posts = create_collection(
        admin,
        "posts",
        [
            {
                "name": "title",
                "type": "text",
                "unique": True,
                "options": {"pattern": "^[A-Z]"},
            },
            {
                "name": "score",
                "type": "number",
                "options": {"min": 0, "max": 10, "integer": True},
            },
            {"name": "draft", "type": "bool", "hidden": True},
            {"name": "contact", "type": "email"},
            {"name": "link", "type": "url"},
            {"name": "published", "type": "date"},
            {
                "name": "status",
                "type": "select",
                "options": {"values": ["open", "closed"]},
            },
            {
                "name": "tags",
                "type": "select",
                "options": {"values": ["a", "b"], "multiple": True},
            },
            {"name": "meta", "type": "json", "rules": {"read": "", "write": None}},
            relation("author", "authors"),
            relation("coauthors", "authors", multiple=True),
            relation("owner", "users"),
            relation("parent", "posts"),
        ],
        indexes=[
            {"fields": ["status", "created"]},
            {"fields": ["author", "score"], "unique": True},
        ],
        rules={"list": 'status = "open"', "view": ""},
    )
    add_record(admin, "posts", {"title": "Hello", "score": 3})
    return {"authors": authors, "posts": posts}


# --- export -> import -----------------------------------------------------------------------


def test_export_lists_every_collection_with_names_not_ids(blog, admin):
    document = admin.get(EXPORT).json()
    assert document["version"] == 1
    assert [c["name"] for c in document["collections"]] == ["users", "authors", "posts"]
    posts = document["collections"][2]
    assert field_by_name(posts, "author")["options"]["collection"] == "authors"
    assert field_by_name(posts, "parent")["options"]["collection"] == "posts"
    assert posts["indexes"][1] == {"fields": ["author", "score"], "unique": True}


def test_export_then_import_into_a_fresh_state_recreates_identical_definitions(
    blog, admin
):
    exported = admin.get(EXPORT).json()
    drop_dynamic_schema()
    assert admin.get("/api/v1/collections/posts").status_code == 404

    result = do_import(admin, exported).json()
    assert result["dry_run"] is False
    assert [(c["collection"], c["action"]) for c in result["changes"]] == [
        ("users", "update"),
        ("authors", "create"),
        ("posts", "create"),
    ]
    reimported = admin.get(EXPORT).json()
    assert without_ids(reimported) == without_ids(exported)


def test_imported_collections_get_real_tables(blog, admin):
    exported = admin.get(EXPORT).json()
    drop_dynamic_schema()
    do_import(admin, exported)
    posts = get_collection(admin, "posts")
    authors = get_collection(admin, "authors")
    table = table_of(posts)
    assert columns(table)[column_of(posts, "score")][0] == "FloatField"
    assert foreign_keys(table)[column_of(posts, "author")] == (table_of(authors), "id")
    assert foreign_keys(table)[column_of(posts, "parent")] == (table, "id")
    assert junction_of(posts, "coauthors") in table_names()
    assert column_of(get_collection(admin, "users"), "nickname") in columns(
        "baas_users"
    )
    add_record(admin, "posts", {"title": "Again", "score": 1})


def test_importing_the_current_export_changes_nothing(blog, admin):
    before = snapshot(table_of(blog["posts"]))
    result = do_import(admin, admin.get(EXPORT).json()).json()
    assert {c["action"] for c in result["changes"]} == {"unchanged"}
    assert snapshot(table_of(blog["posts"])) == before


def test_collections_missing_from_the_document_are_left_alone(blog, admin):
    document = {
        "collections": [{"name": "notes", "fields": [{"name": "body", "type": "text"}]}]
    }
    do_import(admin, document)
    assert {c.name for c in Collection.objects.all()} == {
        "users",
        "authors",
        "posts",
        "notes",
    }
    assert get_collection(admin, "posts") == blog["posts"]


def test_fields_from_another_server_are_matched_by_name(blog, admin):
    """An export from elsewhere has foreign ids: the field of the same name is updated."""
    document = admin.get(EXPORT).json()
    posts = next(c for c in document["collections"] if c["name"] == "posts")
    for field in posts["fields"]:
        field["id"] = "foreign" + field["id"][:8]
    field_by_name(posts, "score")["options"]["max"] = 100
    before = snapshot(table_of(blog["posts"]))
    result = do_import(admin, {"collections": [posts]}).json()
    assert result["changes"][0]["fields"] == {"changed": ["score"]}
    assert (
        field_by_name(get_collection(admin, "posts"), "score")["options"]["max"] == 100
    )
    assert snapshot(table_of(blog["posts"])) == before


# --- dry run ---------------------------------------------------------------------------------


def edited_document(admin, blog) -> dict:
    """Rename title, drop draft, add summary; leave authors as is; add a new collection."""
    document = admin.get(EXPORT).json()
    posts = next(c for c in document["collections"] if c["name"] == "posts")
    field_by_name(posts, "title")["name"] = "headline"
    posts["fields"] = [f for f in posts["fields"] if f["name"] != "draft"]
    posts["fields"].append({"name": "summary", "type": "text"})
    document["collections"].append(
        {
            "name": "comments",
            "fields": [{"name": "body", "type": "text"}, relation("post", "posts")],
        }
    )
    return document


def test_dry_run_returns_the_diff(blog, admin):
    result = do_import(admin, edited_document(admin, blog), dry_run=True).json()
    assert result["dry_run"] is True
    changes = {c["collection"]: c for c in result["changes"]}
    assert changes["users"]["action"] == "unchanged"
    assert changes["authors"]["action"] == "unchanged"
    assert changes["posts"]["action"] == "update"
    assert changes["posts"]["fields"] == {
        "added": ["summary"],
        "removed": ["draft"],
        "renamed": [{"from": "title", "to": "headline"}],
    }
    assert changes["comments"] == {
        "collection": "comments",
        "action": "create",
        "fields": {"added": ["body", "post"]},
    }


def test_dry_run_changes_nothing(blog, admin):
    posts_table = table_of(blog["posts"])
    before_state, before_table = schema_state(), snapshot(posts_table)
    before_export = admin.get(EXPORT).json()
    do_import(admin, edited_document(admin, blog), dry_run=True)
    assert schema_state() == before_state
    assert snapshot(posts_table) == before_table
    assert admin.get(EXPORT).json() == before_export
    assert admin.get("/api/v1/collections/comments").status_code == 404
    record = add_record(admin, "posts", {"title": "Still", "draft": True})
    assert record["title"] == "Still"


def test_dry_run_then_real_import_gives_the_same_diff(blog, admin):
    document = edited_document(admin, blog)
    dry = do_import(admin, document, dry_run=True).json()["changes"]
    real = do_import(admin, document).json()["changes"]
    assert dry == real
    posts = get_collection(admin, "posts")
    assert (
        field_by_name(posts, "headline")["id"]
        == field_by_name(blog["posts"], "title")["id"]
    )
    assert "draft" not in [f["name"] for f in posts["fields"]]


def test_dry_run_reports_errors_like_a_real_import(blog, admin):
    document = edited_document(admin, blog)
    document["collections"][-1]["fields"][0]["type"] = "nope"
    before = schema_state()
    response = do_import(admin, document, dry_run=True, status=400)
    error = error_of(response)
    assert error["param"] == "collections.3.fields.0.type"
    assert schema_state() == before


# --- all or nothing --------------------------------------------------------------------------


def test_failed_import_creates_nothing(schema_db, admin):
    before = schema_state()
    document = {
        "collections": [
            {"name": "articles", "fields": [{"name": "title", "type": "text"}]},
            {"name": "comments", "fields": [{"name": "expand", "type": "text"}]},
        ]
    }
    response = do_import(admin, document, status=400)
    error = error_of(response)
    assert (error["code"], error["param"]) == (
        "reserved_name",
        "collections.1.fields.0.name",
    )
    assert schema_state() == before
    assert not Collection.objects.filter(name_key="articles").exists()


def test_failed_import_in_the_relation_pass_creates_nothing(schema_db, admin):
    before = schema_state()
    document = {
        "collections": [
            {"name": "articles", "fields": [relation("comments", "comments")]},
            {"name": "comments", "fields": [relation("missing", "nowhere")]},
        ]
    }
    response = do_import(admin, document, status=400)
    assert error_of(response)["param"] == "collections.1.fields.0.options.collection"
    assert schema_state() == before


def test_failed_import_rolls_back_updates_to_existing_collections(blog, admin):
    before_state, before_table = schema_state(), snapshot(table_of(blog["posts"]))
    document = edited_document(admin, blog)
    # The posts changes come first and are valid; the last collection is not: the
    # posts changes and the new `comments` must be undone with it.
    document["collections"].append({"name": "broken", "type": "view"})
    do_import(admin, document, status=400)
    assert schema_state() == before_state
    assert snapshot(table_of(blog["posts"])) == before_table


def test_import_conflicting_with_stored_data_rolls_back(blog, admin):
    add_record(admin, "posts", {"title": "Other", "score": 3})
    document = edited_document(admin, blog)
    posts = next(c for c in document["collections"] if c["name"] == "posts")
    posts["indexes"].append({"fields": ["score"], "unique": True})
    before = schema_state()
    response = do_import(admin, document, status=409)
    assert error_of(response)["code"] == "constraint_violation"
    assert schema_state() == before


def test_error_names_the_field_position_in_the_document(schema_db, admin):
    """Relation fields are created in a second pass; errors still point at the right field."""
    document = {
        "collections": [
            {
                "name": "articles",
                "fields": [
                    relation("owner", "users"),
                    {"name": "title", "type": "texty"},
                ],
            }
        ]
    }
    response = do_import(admin, document, status=400)
    assert error_of(response)["param"] == "collections.0.fields.1.type"


def test_the_same_collection_twice_in_one_document_is_refused(schema_db, admin):
    before = schema_state()
    document = {
        "collections": [
            {"name": "posts", "fields": [{"name": "title", "type": "text"}]},
            {"name": "Posts", "fields": [{"name": "body", "type": "text"}]},
        ]
    }
    response = do_import(admin, document, status=400)
    error = error_of(response)
    assert (error["code"], error["param"]) == ("duplicate_name", "collections.1.name")
    assert schema_state() == before


@pytest.mark.parametrize(
    "document",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({}, id="no-collections"),
        pytest.param({"collections": {}}, id="collections-not-a-list"),
        pytest.param({"collections": [{"fields": []}]}, id="collection-without-name"),
        pytest.param({"collections": ["posts"]}, id="collection-not-an-object"),
        pytest.param(
            {"collections": [{"name": "posts", "fields": "x"}]}, id="fields-not-a-list"
        ),
        pytest.param(
            {"collections": [{"name": "posts", "fields": ["x"]}]},
            id="field-not-an-object",
        ),
        pytest.param(
            {"collections": [{"name": "users", "fields": ["x"]}]}, id="bad-users-field"
        ),
        pytest.param(
            {"collections": [{"name": "users", "fields": "x"}]}, id="bad-users-fields"
        ),
    ],
)
def test_malformed_documents_are_a_400(schema_db, admin, document):
    before = schema_state()
    response = do_import(admin, document, status=400)
    error_of(response)
    assert schema_state() == before


# --- relations between new collections --------------------------------------------------------


def test_relations_between_new_collections_including_a_cycle(schema_db, admin):
    document = {
        "collections": [
            {
                "name": "alpha",
                "fields": [{"name": "title", "type": "text"}, relation("beta", "beta")],
            },
            {
                "name": "beta",
                "fields": [
                    relation("alpha", "alpha"),
                    relation("alphas", "alpha", multiple=True),
                ],
            },
            {
                "name": "gamma",
                "fields": [relation("me", "gamma"), relation("owner", "users")],
            },
        ]
    }
    do_import(admin, document)
    alpha, beta = get_collection(admin, "alpha"), get_collection(admin, "beta")
    gamma = get_collection(admin, "gamma")
    assert [f["name"] for f in alpha["fields"]] == ["title", "beta"]
    assert field_by_name(alpha, "beta")["options"]["collection"] == "beta"
    assert field_by_name(beta, "alpha")["options"]["collection"] == "alpha"
    assert foreign_keys(table_of(alpha))[column_of(alpha, "beta")] == (
        table_of(beta),
        "id",
    )
    assert foreign_keys(table_of(beta))[column_of(beta, "alpha")] == (
        table_of(alpha),
        "id",
    )
    assert foreign_keys(table_of(gamma))[column_of(gamma, "me")] == (
        table_of(gamma),
        "id",
    )
    assert junction_of(beta, "alphas") in table_names()

    a = add_record(admin, "alpha", {"title": "a"})
    b = add_record(admin, "beta", {"alpha": a["id"], "alphas": [a["id"]]})
    linked = admin.patch(
        f"/api/v1/collections/alpha/records/{a['id']}", {"beta": b["id"]}, format="json"
    )
    assert linked.status_code == 200, linked.content
    assert linked.json()["beta"] == b["id"]


def test_a_cycle_blocks_dropping_either_side(schema_db, admin):
    document = {
        "collections": [
            {"name": "alpha", "fields": [relation("beta", "beta")]},
            {"name": "beta", "fields": [relation("alpha", "alpha")]},
        ]
    }
    do_import(admin, document)
    for name in ("alpha", "beta"):
        response = admin.delete(f"/api/v1/collections/{name}")
        assert response.status_code == 409
        assert error_of(response)["code"] == "collection_in_use"


def test_collection_names_are_checked_before_anything_is_looked_up(schema_db, admin):
    before = schema_state()
    for name in ("a\x00b", "my posts", "x" * 64):
        response = do_import(admin, {"collections": [{"name": name}]}, status=400)
        assert error_of(response)["param"] == "collections.0.name"
    assert schema_state() == before


def test_a_malformed_collection_id_is_treated_as_foreign(schema_db, admin):
    document = {"collections": [{"id": "a\x00b", "name": "notes", "fields": []}]}
    result = do_import(admin, document).json()
    assert result["changes"] == [
        {"collection": "notes", "action": "create", "fields": {"added": []}}
    ]


def test_a_field_id_that_is_not_a_string_is_treated_as_foreign(schema_db, admin):
    """Ids in a document are hints from another server: a malformed one is dropped."""
    users = get_collection(admin, "users")
    field = {"id": ["not", "an", "id"], "name": "nickname", "type": "text"}
    document = {"collections": [{"name": "users", "fields": users["fields"] + [field]}]}
    result = do_import(admin, document).json()
    assert result["changes"][0]["fields"] == {"added": ["nickname"]}
    assert column_of(get_collection(admin, "users"), "nickname") in columns(
        "baas_users"
    )
