"""`next_cursor` is opaque: it names nothing internal, it only works with the sort it came
from, and a tampered one is a 400 or a page of rows the caller may see, never a 500."""

from __future__ import annotations

import base64
import re

import orjson
import pytest

from tests.collections.schema_helpers import create_collection, error_of
from tests.conftest import USER_PASSWORD, client_with, login

RECORDS = "/api/v1/collections/notes/records"
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
SORTS = ["", "position", "-position,title", "title,-created", "secret", "-id", "-day"]


@pytest.fixture
def notes(schema_db, admin, make_user):
    """`notes` owned by two users; each sees only their own, and `secret` only on
    records they own (a field read rule)."""
    collection = create_collection(
        admin,
        "notes",
        fields=[
            {"name": "title", "type": "text"},
            {"name": "position", "type": "number"},
            {"name": "day", "type": "date"},
            {
                "name": "secret",
                "type": "text",
                "rules": {"read": "owner = @request.auth.id"},
            },
            {"name": "owner", "type": "relation", "options": {"collection": "users"}},
        ],
        rules={"list": "owner = @request.auth.id || title = 'shared'"},
    )
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    for user in (alice, bob):
        for i in range(7):
            response = admin.post(
                RECORDS,
                {
                    "title": "shared" if i == 0 else f"t{i % 3}",
                    "position": i % 4,
                    "day": f"2024-01-0{i % 3 + 1}T00:00:00Z",
                    "secret": f"s{i}",
                    "owner": user.pk,
                },
                format="json",
            )
            assert response.status_code == 201, response.content
    return {**collection, "alice": alice.pk}


def _decoded(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _encoded(payload) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _walk(client, sort: str) -> list[str]:
    seen, params = [], {"limit": 2, "sort": sort}
    while True:
        response = client.get(RECORDS, params)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        if body["next_cursor"] is None:
            return seen
        params = {**params, "cursor": body["next_cursor"]}
        assert len(seen) < 100, "the cursor never ends"


@pytest.mark.parametrize("sort", SORTS)
def test_the_cursor_names_no_column_table_or_field_id(notes, admin, sort):
    cursor = admin.get(RECORDS, {"limit": 1, "sort": sort}).json()["next_cursor"]
    assert URL_SAFE.match(cursor)
    raw = _decoded(cursor).decode()
    internal = [notes["id"], "f_", "c_", "F(", "_s0"] + [
        f["id"] for f in notes["fields"]
    ]
    for word in internal:
        assert word not in raw, word


@pytest.mark.parametrize("sort", SORTS)
def test_walking_the_cursor_gives_every_visible_record_once(notes, admin, sort):
    everything = {
        item["id"] for item in admin.get(RECORDS, {"limit": 500}).json()["items"]
    }
    seen = _walk(admin, sort)
    assert sorted(seen) == sorted(everything)


def test_a_cursor_of_another_sort_is_a_400(notes, admin):
    cursor = admin.get(RECORDS, {"limit": 1, "sort": "title"}).json()["next_cursor"]
    for sort in ("-title", "position", "title,position", ""):
        response = admin.get(RECORDS, {"cursor": cursor, "sort": sort})
        assert response.status_code == 400, (sort, response.content)
        assert error_of(response)["param"] == "cursor"


def test_every_corruption_of_a_cursor_is_a_400_or_a_page_never_a_500(notes, admin):
    cursor = admin.get(RECORDS, {"limit": 1, "sort": "-position"}).json()["next_cursor"]
    variants = {cursor[:cut] for cut in range(len(cursor))}
    for i in range(len(cursor)):
        for char in "A_-9z":
            variants.add(cursor[:i] + char + cursor[i + 1 :])
    for variant in sorted(variants):
        response = admin.get(RECORDS, {"cursor": variant, "sort": "-position"})
        if response.status_code != 200:
            assert response.status_code == 400, (variant, response.content)
            assert error_of(response)["param"] == "cursor"


def test_a_forged_cursor_shows_no_record_the_caller_could_not_list(notes):
    client = client_with(login("alice@example.com", USER_PASSWORD))
    visible = set(_walk(client, "secret"))
    owner = {
        i["id"]: i["owner"] for i in client.get(RECORDS, {"limit": 500}).json()["items"]
    }
    mine = {pk for pk, user in owner.items() if user == notes["alice"]}
    cursor = client.get(RECORDS, {"limit": 1, "sort": "secret"}).json()["next_cursor"]
    signature, values = orjson.loads(_decoded(cursor))
    for first in (None, "", "a", "s", "s3", "zzz", 5, True, [], {}):
        forged = _encoded([signature, [first, *values[1:]]])
        response = client.get(RECORDS, {"cursor": forged, "sort": "secret"})
        if response.status_code == 200:
            items = response.json()["items"]
            assert {item["id"] for item in items} <= visible
            assert all(("secret" in item) == (item["id"] in mine) for item in items)
        else:
            assert response.status_code == 400
            assert error_of(response)["param"] == "cursor"
