"""Collection rules on the record API: list filters, 404 for the invisible, create and
update checked against the submitted and the stored record, field access."""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD, client_with, login

POSTS = "/api/v1/collections/posts/records"
OWNER_RULES = {
    "list": "owner = @request.auth.id || public = true",
    "view": "owner = @request.auth.id || public = true",
    "create": "@request.auth.id != '' && @request.body.owner = @request.auth.id",
    "update": "owner = @request.auth.id",
    "delete": "owner = @request.auth.id",
}


@pytest.fixture
def people(schema_db, make_user, admin):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "public", "type": "bool"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
                {
                    "name": "tags",
                    "type": "select",
                    "options": {"values": ["a", "b", "c"], "multiple": True},
                },
                {"name": "secret", "type": "text", "hidden": True},
                {
                    "name": "note",
                    "type": "text",
                    "rules": {
                        "read": "owner = @request.auth.id",
                        "write": "owner = @request.auth.id",
                    },
                },
            ],
            "rules": OWNER_RULES,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return {
        "admin": admin,
        "alice": (alice, client_with(login(alice.email, USER_PASSWORD))),
        "bob": (bob, client_with(login(bob.email, USER_PASSWORD))),
    }


def _create(client, **data):
    response = client.post(POSTS, data, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_owner_rule_hides_other_users_records(people, anon):
    alice, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    mine = _create(alice_client, title="a", owner=alice.pk, note="alice's note")
    _create(bob_client, title="b", owner=bob.pk)
    public = _create(bob_client, title="p", owner=bob.pk, public=True, note="n")
    items = alice_client.get(POSTS).json()["items"]
    assert {i["id"] for i in items} == {mine["id"], public["id"]}
    by_id = {i["id"]: i for i in items}
    assert by_id[mine["id"]]["note"] == "alice's note"
    assert "note" not in by_id[public["id"]]  # field read rule
    assert all("secret" not in i for i in items)  # hidden
    assert {i["id"] for i in anon.get(POSTS).json()["items"]} == {public["id"]}


def test_invisible_record_is_404_like_a_missing_one(people):
    bob, bob_client = people["bob"]
    _, alice_client = people["alice"]
    theirs = _create(bob_client, title="b", owner=bob.pk)
    for method in ("get", "patch", "delete"):
        response = getattr(alice_client, method)(
            f"{POSTS}/{theirs['id']}", {}, format="json"
        )
        missing = getattr(alice_client, method)(
            f"{POSTS}/zzzzzzzzzzzzzzz", {}, format="json"
        )
        assert response.status_code == missing.status_code == 404
        assert response.json() == missing.json()


def test_create_checks_the_submitted_owner(people, anon):
    alice, alice_client = people["alice"]
    bob, _ = people["bob"]
    assert (
        alice_client.post(
            POSTS, {"title": "x", "owner": bob.pk}, format="json"
        ).status_code
        == 403
    )
    assert (
        anon.post(POSTS, {"title": "x", "owner": alice.pk}, format="json").status_code
        == 403
    )
    assert people["admin"].get(POSTS).json()["items"] == []


def test_update_cannot_hand_a_record_to_someone_else(people):
    alice, alice_client = people["alice"]
    bob, _ = people["bob"]
    mine = _create(alice_client, title="a", owner=alice.pk)
    response = alice_client.patch(
        f"{POSTS}/{mine['id']}", {"owner": bob.pk}, format="json"
    )
    assert response.status_code == 403
    stored = people["admin"].get(f"{POSTS}/{mine['id']}").json()
    assert stored["owner"] == alice.pk


def test_public_record_of_another_user_is_403_on_update(people):
    bob, bob_client = people["bob"]
    _, alice_client = people["alice"]
    theirs = _create(bob_client, title="b", owner=bob.pk, public=True)
    response = alice_client.patch(
        f"{POSTS}/{theirs['id']}", {"title": "x"}, format="json"
    )
    assert response.status_code == 403


def test_hidden_field_cannot_be_written_filtered_or_sorted(people):
    alice, alice_client = people["alice"]
    response = alice_client.post(
        POSTS, {"title": "a", "owner": alice.pk, "secret": "s"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["param"] == "secret"
    assert alice_client.get(POSTS, {"filter": "secret = 's'"}).status_code == 400
    assert alice_client.get(POSTS, {"sort": "secret"}).status_code == 400
    assert people["admin"].get(POSTS, {"filter": "secret = 's'"}).status_code == 200


def test_filter_on_field_with_read_rule_matches_only_readable_records(people):
    alice, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    _create(bob_client, title="p", owner=bob.pk, public=True, note="guess")
    mine = _create(alice_client, title="a", owner=alice.pk, note="guess")
    items = alice_client.get(POSTS, {"filter": "note = 'guess'"}).json()["items"]
    assert [i["id"] for i in items] == [mine["id"]]


def test_filter_sort_and_cursor(people):
    alice, alice_client = people["alice"]
    made = [
        _create(
            alice_client,
            title=f"t{i % 3}",
            owner=alice.pk,
            tags=["a"] if i % 2 else ["b", "c"],
        )
        for i in range(7)
    ]
    got = alice_client.get(
        POSTS, {"filter": "tags ?= 'a'", "sort": "title,-created"}
    ).json()
    assert {i["id"] for i in got["items"]} == {m["id"] for m in made[1::2]}
    titles = [i["title"] for i in got["items"]]
    assert titles == sorted(titles)
    seen, cursor = [], None
    while True:
        params = {"sort": "-title", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = alice_client.get(POSTS, params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(m["id"] for m in made)
    assert len(seen) == len(set(seen))


def test_bad_filter_is_400_with_position(people):
    _, alice_client = people["alice"]
    response = alice_client.get(POSTS, {"filter": "title = "})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["param"] == "filter" and "position" in error["message"]


def test_invalid_rule_is_refused_at_save_naming_it(people):
    response = people["admin"].patch(
        "/api/v1/collections/posts",
        {"rules": {"list": "nope = 1"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "rules.list"


def test_relation_path_applies_target_view_rule(people):
    alice, alice_client = people["alice"]
    _create(alice_client, title="a", owner=alice.pk, public=True)
    # users' view rule lets alice see only herself: bob's email is not reachable.
    bob_items = alice_client.get(POSTS, {"filter": "owner.email = 'bob@example.com'"})
    assert bob_items.status_code == 200
    mine = alice_client.get(
        POSTS, {"filter": "owner.email = 'alice@example.com'"}
    ).json()
    assert len(mine["items"]) == 1
