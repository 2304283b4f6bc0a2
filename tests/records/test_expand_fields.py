"""`expand` and `fields` on record lists and gets: nested relations under the target's
view rule and field access, sparse fieldsets, 400s naming the parameter, and a number of
queries that does not grow with the page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import USER_PASSWORD, client_with, login

BASE = "/api/v1/collections"
OWNER_RULES = {
    "list": "owner = @request.auth.id || public = true",
    "view": "owner = @request.auth.id || public = true",
    "create": "@request.auth.id != ''",
    "update": "owner = @request.auth.id",
    "delete": "owner = @request.auth.id",
}
EVERYONE = {"list": "", "view": "", "create": None, "update": None, "delete": None}


def url(name: str, record_id: str | None = None) -> str:
    return f"{BASE}/{name}/records" + (f"/{record_id}" if record_id else "")


def relation(name: str, target: str, **extra) -> dict:
    options = {"collection": target, "multiple": extra.pop("multiple", False)}
    return {"name": name, "type": "relation", "options": options, **extra}


def make_collection(admin, name: str, fields: list, rules: dict) -> None:
    response = admin.post(
        BASE, {"name": name, "fields": fields, "rules": rules}, format="json"
    )
    assert response.status_code == 201, response.content


def create(admin, collection: str, **data) -> str:
    response = admin.post(url(collection), data, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.fixture
def world(schema_db, make_user, admin):
    """teams <- users.team; tags (private ones invisible); posts -> owner (users),
    editor (users, readable by the post's owner only), tags (multiple), readers
    (multiple users)."""
    make_collection(
        admin,
        "teams",
        [
            {"name": "name", "type": "text"},
            {"name": "code", "type": "text", "hidden": True},
        ],
        EVERYONE,
    )
    response = admin.patch(
        f"{BASE}/users", {"fields": [relation("team", "teams")]}, format="json"
    )
    assert response.status_code == 200, response.content
    make_collection(
        admin,
        "tags",
        [
            {"name": "label", "type": "text"},
            {"name": "private", "type": "bool"},
            {"name": "internal", "type": "text", "hidden": True},
        ],
        {**EVERYONE, "view": "private = false", "list": "private = false"},
    )
    make_collection(
        admin,
        "posts",
        [
            {"name": "title", "type": "text"},
            {"name": "public", "type": "bool"},
            relation("owner", "users"),
            relation("editor", "users", rules={"read": "owner = @request.auth.id"}),
            relation("tags", "tags", multiple=True),
            relation("readers", "users", multiple=True),
            relation("secret_ref", "users", hidden=True),
        ],
        OWNER_RULES,
    )
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    red = create(admin, "teams", name="red", code="R-1")
    admin.patch(url("users", alice.pk), {"team": red}, format="json")
    tags = {
        label: create(
            admin, "tags", label=label, private=label == "p", internal=f"i-{label}"
        )
        for label in ("x", "y", "p")
    }
    return {
        "admin": admin,
        "alice": alice,
        "bob": bob,
        "alice_client": client_with(login(alice.email, USER_PASSWORD)),
        "red": red,
        "tags": tags,
    }


def get(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def only_item(client, **params) -> dict:
    items = get(client, url("posts"), **params)["items"]
    assert len(items) == 1
    return items[0]


def error_of(response) -> tuple[str, str]:
    assert response.status_code == 400, response.content
    error = response.json()["errors"][0]
    return error["code"], error["param"]


# --- expand -------------------------------------------------------------------------


def test_expand_embeds_single_and_multiple_relations(world):
    alice, tags = world["alice"], world["tags"]
    create(
        world["admin"],
        "posts",
        title="a",
        owner=alice.pk,
        tags=[tags["y"], tags["x"]],
    )
    item = only_item(world["alice_client"], expand="owner,tags")
    assert item["owner"] == alice.pk
    owner = item["expand"]["owner"]
    assert owner["id"] == alice.pk and owner["email"] == alice.email
    assert owner["team"] == world["red"]
    assert "expand" not in owner  # not asked for
    assert [t["label"] for t in item["expand"]["tags"]] == ["y", "x"]  # stored order
    assert item["tags"] == [tags["y"], tags["x"]]


def test_expand_without_a_related_record_has_no_key_or_an_empty_list(world):
    create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    item = only_item(world["alice_client"], expand="editor,tags")
    assert item["expand"] == {"tags": []}


def test_nested_expand_sits_in_the_related_records_own_expand(world):
    create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    item = only_item(world["alice_client"], expand="owner.team")
    team = item["expand"]["owner"]["expand"]["team"]
    assert team == {
        "id": world["red"],
        "created": team["created"],
        "updated": team["updated"],
        "name": "red",
    }  # no hidden `code`


def test_related_records_the_caller_may_not_view_are_left_out(world):
    alice, bob, tags = world["alice"], world["bob"], world["tags"]
    create(
        world["admin"],
        "posts",
        title="bob's",
        public=True,
        owner=bob.pk,
        tags=[tags["p"], tags["x"]],
        readers=[bob.pk, alice.pk],
    )
    item = only_item(world["alice_client"], expand="owner,owner.team,tags,readers")
    assert item["owner"] == bob.pk  # the id is a field value she may read...
    assert "owner" not in item["expand"]  # ...but users only shows her herself
    assert [t["label"] for t in item["expand"]["tags"]] == ["x"]  # "p" is private
    assert [r["id"] for r in item["expand"]["readers"]] == [alice.pk]
    body = str(item)
    assert bob.email not in body and "i-x" not in body  # hidden `internal`


def test_superuser_sees_every_related_record_and_field(world):
    bob, tags = world["bob"], world["tags"]
    create(
        world["admin"],
        "posts",
        title="b",
        owner=bob.pk,
        editor=bob.pk,
        secret_ref=bob.pk,
        tags=[tags["p"]],
    )
    item = only_item(world["admin"], expand="owner,editor,secret_ref,tags")
    assert item["expand"]["owner"]["email"] == bob.email
    assert item["expand"]["editor"]["id"] == bob.pk
    assert item["expand"]["secret_ref"]["id"] == bob.pk
    assert item["expand"]["tags"][0]["internal"] == "i-p"


def test_a_relation_with_a_read_rule_is_expanded_only_where_readable(world):
    alice, bob = world["alice"], world["bob"]
    create(world["admin"], "posts", title="mine", owner=alice.pk, editor=alice.pk)
    create(
        world["admin"],
        "posts",
        title="bob's",
        public=True,
        owner=bob.pk,
        editor=alice.pk,
    )
    items = get(world["alice_client"], url("posts"), expand="editor", sort="title")
    theirs, mine = items["items"]
    assert mine["expand"]["editor"]["id"] == alice.pk
    assert "editor" not in theirs and theirs["expand"] == {}


# --- fields -------------------------------------------------------------------------


def test_fields_restricts_top_level_keys_and_keeps_id(world):
    create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    item = only_item(world["alice_client"], fields="title")
    assert item == {"id": item["id"], "title": "a"}


def test_dotted_fields_restrict_the_expanded_record(world):
    alice = world["alice"]
    create(world["admin"], "posts", title="a", owner=alice.pk)
    item = only_item(
        world["alice_client"], fields="title,owner,owner.email", expand="owner"
    )
    assert item == {
        "id": item["id"],
        "title": "a",
        "owner": alice.pk,
        "expand": {"owner": {"id": alice.pk, "email": alice.email}},
    }


def test_an_expanded_relation_left_out_of_fields_is_read_but_not_shown(world):
    create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    item = only_item(world["alice_client"], fields="title", expand="owner.team")
    assert set(item) == {"id", "title", "expand"}
    assert item["expand"]["owner"]["expand"]["team"]["name"] == "red"


def test_fields_through_two_relations(world):
    alice = world["alice"]
    create(world["admin"], "posts", title="a", owner=alice.pk)
    item = only_item(
        world["alice_client"],
        fields="title,owner.email,owner.team.name",
        expand="owner.team",
    )
    owner = item["expand"]["owner"]
    assert set(owner) == {"id", "email", "expand"}  # `team` itself not asked for
    assert owner["expand"]["team"] == {"id": world["red"], "name": "red"}


def test_only_dotted_fields_leave_the_record_itself_whole(world):
    alice = world["alice"]
    create(world["admin"], "posts", title="a", owner=alice.pk)
    item = only_item(world["alice_client"], fields="owner.email", expand="owner")
    assert item["title"] == "a" and item["owner"] == alice.pk
    assert item["expand"]["owner"] == {"id": alice.pk, "email": alice.email}


@pytest.mark.parametrize(
    "params, code, param",
    [
        pytest.param({"expand": "nope"}, "unknown_field", "expand", id="unknown"),
        pytest.param({"expand": "title"}, "not_a_relation", "expand", id="scalar"),
        pytest.param({"expand": "id"}, "not_a_relation", "expand", id="system"),
        pytest.param(
            {"expand": "secret_ref"}, "unknown_field", "expand", id="hidden-relation"
        ),
        pytest.param(
            {"expand": "owner.nope"}, "unknown_field", "expand", id="unknown-nested"
        ),
        pytest.param(
            {"expand": "owner.email"}, "not_a_relation", "expand", id="nested-scalar"
        ),
        pytest.param(
            {"expand": "owner.team.name.x"}, "too_deep", "expand", id="too-deep"
        ),
        pytest.param({"expand": "owner,"}, "invalid", "expand", id="empty-name"),
        pytest.param({"expand": "owner..team"}, "invalid", "expand", id="empty-seg"),
        pytest.param(
            {"fields": "owner.email"}, "not_expanded", "fields", id="not-expanded"
        ),
        pytest.param(
            {"fields": "owner.team.name", "expand": "owner"},
            "not_expanded",
            "fields",
            id="nested-not-expanded",
        ),
        pytest.param(
            {"fields": "nope.x", "expand": "owner"},
            "unknown_field",
            "fields",
            id="unknown-head",
        ),
        pytest.param(
            {"fields": "owner.nope", "expand": "owner"},
            "unknown_field",
            "fields",
            id="unknown-in-target",
        ),
        pytest.param(
            {"fields": "owner.password", "expand": "owner"},
            "unknown_field",
            "fields",
            id="no-credentials",
        ),
        pytest.param(
            {"fields": "tags.internal", "expand": "tags"},
            "unknown_field",
            "fields",
            id="hidden-in-target",
        ),
        pytest.param({"fields": "secret_ref"}, "unknown_field", "fields", id="hidden"),
        pytest.param(
            {"fields": "title.x"}, "not_a_relation", "fields", id="dotted-scalar"
        ),
        pytest.param({"fields": "id.x"}, "not_a_relation", "fields", id="dotted-id"),
        pytest.param({"fields": "title,"}, "invalid", "fields", id="empty"),
        pytest.param({"fields": "owner."}, "invalid", "fields", id="empty-dotted"),
    ],
)
def test_bad_expand_or_fields_is_400_naming_the_parameter(world, params, code, param):
    client = world["alice_client"]
    assert error_of(client.get(url("posts"), params)) == (code, param)
    post = create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    assert error_of(client.get(url("posts", post), params)) == (code, param)


def test_eleven_distinct_paths_are_too_many(world):
    paths = ["owner", "editor", "tags", "readers", "owner.team", "editor.team"]
    paths += ["readers.team", "owner.team", "editor", "tags"]  # repeats count once
    assert get(world["admin"], url("posts"), expand=",".join(paths))["items"] == []
    paths = [f"p{i}" for i in range(11)]
    response = world["admin"].get(url("posts"), {"expand": ",".join(paths)})
    assert error_of(response)[1] == "expand"


# --- GET by id ----------------------------------------------------------------------


def test_get_by_id_expands_and_restricts_fields(world):
    alice, tags = world["alice"], world["tags"]
    post = create(
        world["admin"], "posts", title="a", owner=alice.pk, tags=[tags["x"], tags["p"]]
    )
    client = world["alice_client"]
    record = get(client, url("posts", post), expand="owner.team,tags")
    assert record["expand"]["owner"]["expand"]["team"]["name"] == "red"
    assert [t["label"] for t in record["expand"]["tags"]] == ["x"]
    sparse = get(client, url("posts", post), fields="title,tags.label", expand="tags")
    assert sparse == {
        "id": post,
        "title": "a",
        "expand": {"tags": [{"id": tags["x"], "label": "x"}]},
    }
    plain = get(client, url("posts", post))
    assert "expand" not in plain and plain["title"] == "a"


def test_get_by_id_etag_covers_the_expansion(world):
    post = create(world["admin"], "posts", title="a", owner=world["alice"].pk)
    client = world["alice_client"]
    plain = client.get(url("posts", post))
    expanded = client.get(url("posts", post), {"expand": "owner"})
    assert plain["ETag"] != expanded["ETag"]


# --- queries ------------------------------------------------------------------------


def _count_queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("posts"), params)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize("actor", ["alice_client", "admin"])
def test_expand_queries_do_not_grow_with_the_page(world, actor):
    alice, bob, tags = world["alice"], world["bob"], world["tags"]
    client = world[actor]
    params = {"expand": "owner.team,tags,readers", "limit": 50}
    counts = {}
    made = 0
    for size in (2, 20):
        while made < size:
            create(
                world["admin"],
                "posts",
                title=f"t{made}",
                owner=alice.pk,
                tags=[tags["x"], tags["y"], tags["p"]],
                readers=[alice.pk, bob.pk],
            )
            made += 1
        counts[size] = _count_queries(client, **params)
        items = get(client, url("posts"), **params)["items"]
        assert len(items) == size
        assert all(
            i["expand"]["owner"]["expand"]["team"]["name"] == "red" for i in items
        )
    assert counts[2] == counts[20]
    plain = _count_queries(client, limit=50)
    # Per expanded path: one query for the target's spec, one for its records
    # (owner, owner.team, tags, readers); junctions of posts are read without expand too.
    assert counts[20] - plain <= 7
