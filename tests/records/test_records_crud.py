"""Record CRUD over HTTP for every field type, system fields, and list pagination."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from rest_framework.test import APIClient

from apps.collections.dynamic import cache
from apps.collections.services import get_spec

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ID = re.compile(r"^[a-z0-9]{15}$")
RECORDS = "/api/v1/collections/{}/records"


def records_url(name: str, record_id: str | None = None) -> str:
    url = RECORDS.format(name)
    return f"{url}/{record_id}" if record_id else url


def create_collection(admin, name: str, fields: list[dict]) -> dict:
    response = admin.post(
        "/api/v1/collections", {"name": name, "fields": fields}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def model_of(name: str):
    return cache.model_for(get_spec(name))


def backdate(name: str, when: dt.datetime, **filters) -> None:
    """Move stored created/updated into the past, so a later change is unmistakable."""
    model_of(name).objects.filter(**filters).update(created=when, updated=when)


# --- every field type: create, get, patch -------------------------------------------

TYPE_CASES = [
    # (type, options, value on create, rendered, value on patch, rendered after patch)
    ("text", {}, "hello", "hello", "bye", "bye"),
    ("text", {"min": 2, "max": 10, "pattern": "^[a-z]+$"}, "abc", "abc", "xyz", "xyz"),
    ("number", {}, 3.5, 3.5, -2, -2),
    ("number", {"integer": True, "min": 0, "max": 100}, 42, 42, 0, 0),
    ("bool", {}, True, True, False, False),
    ("email", {}, "a@example.com", "a@example.com", "b@example.org", "b@example.org"),
    (
        "url",
        {},
        "https://example.com/x?y=1",
        "https://example.com/x?y=1",
        "http://example.org",
        "http://example.org",
    ),
    (
        "date",
        {},
        "2024-02-29T12:34:56.789Z",
        "2024-02-29T12:34:56.789Z",
        "2025-01-01T00:00:00+02:00",
        "2024-12-31T22:00:00.000Z",
    ),
    ("select", {"values": ["draft", "live"]}, "draft", "draft", "live", "live"),
    (
        "select",
        {"values": ["a", "b", "c"], "multiple": True},
        ["c", "a"],
        ["c", "a"],
        ["b"],
        ["b"],
    ),
    (
        "json",
        {},
        {"nested": [1, "two", None, {"x": True}]},
        {"nested": [1, "two", None, {"x": True}]},
        [1, 2, 3],
        [1, 2, 3],
    ),
    ("json", {}, "just a string", "just a string", 12.5, 12.5),
]


@pytest.mark.parametrize(
    "type_name, options, value, rendered, new_value, new_rendered",
    TYPE_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(TYPE_CASES)],
)
def test_every_field_type_round_trips_through_create_get_and_patch(
    schema_db, admin, type_name, options, value, rendered, new_value, new_rendered
):
    create_collection(
        admin, "things", [{"name": "v", "type": type_name, "options": options}]
    )

    created = admin.post(records_url("things"), {"v": value}, format="json")
    assert created.status_code == 201, created.content
    record = created.json()
    assert record["v"] == rendered
    assert admin.get(records_url("things", record["id"])).json()["v"] == rendered

    patched = admin.patch(
        records_url("things", record["id"]), {"v": new_value}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["v"] == new_rendered
    assert admin.get(records_url("things", record["id"])).json()["v"] == new_rendered


@pytest.mark.parametrize(
    "type_name, options, unset",
    [
        ("text", {}, None),
        ("number", {}, None),
        ("bool", {}, False),
        ("email", {}, None),
        ("url", {}, None),
        ("date", {}, None),
        ("select", {"values": ["a"]}, None),
        ("select", {"values": ["a"], "multiple": True}, []),
        ("json", {}, None),
    ],
)
def test_an_unset_optional_field_reads_as_its_empty_value(
    schema_db, admin, type_name, options, unset
):
    create_collection(
        admin, "things", [{"name": "v", "type": type_name, "options": options}]
    )
    created = admin.post(records_url("things"), {}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["v"] == unset


def test_relations_round_trip_to_users_and_to_another_collection(
    schema_db, admin, app_user
):
    create_collection(admin, "tags", [{"name": "label", "type": "text"}])
    create_collection(
        admin,
        "posts",
        [
            {"name": "author", "type": "relation", "options": {"collection": "users"}},
            {
                "name": "tags",
                "type": "relation",
                "options": {"collection": "tags", "multiple": True},
            },
        ],
    )
    t1 = admin.post(records_url("tags"), {"label": "one"}, format="json").json()["id"]
    t2 = admin.post(records_url("tags"), {"label": "two"}, format="json").json()["id"]

    created = admin.post(
        records_url("posts"), {"author": app_user.pk, "tags": [t2, t1]}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["author"] == app_user.pk
    assert created.json()["tags"] == [t2, t1]

    post_id = created.json()["id"]
    patched = admin.patch(
        records_url("posts", post_id), {"author": None, "tags": [t1]}, format="json"
    )
    assert patched.status_code == 200, patched.content
    fetched = admin.get(records_url("posts", post_id)).json()
    assert fetched["author"] is None
    assert fetched["tags"] == [t1]


# --- system fields -------------------------------------------------------------------


def test_create_returns_201_with_system_fields_in_rfc3339_utc_milliseconds(
    schema_db, admin
):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    response = admin.post(records_url("notes"), {"title": "x"}, format="json")
    assert response.status_code == 201
    record = response.json()
    assert ID.match(record["id"])
    assert TIMESTAMP.match(record["created"]), record["created"]
    assert TIMESTAMP.match(record["updated"]), record["updated"]
    assert record["created"] == record["updated"]
    assert set(record) == {"id", "created", "updated", "title"}


def test_patch_is_partial_moves_updated_and_keeps_created(schema_db, admin):
    create_collection(
        admin,
        "notes",
        [
            {"name": "title", "type": "text"},
            {"name": "body", "type": "text"},
        ],
    )
    record = admin.post(
        records_url("notes"), {"title": "t", "body": "b"}, format="json"
    ).json()
    past = dt.datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)
    backdate("notes", past, pk=record["id"])

    patched = admin.patch(
        records_url("notes", record["id"]), {"body": "new"}, format="json"
    )

    assert patched.status_code == 200
    body = patched.json()
    assert body["title"] == "t"
    assert body["body"] == "new"
    assert body["created"] == "2001-02-03T04:05:06.789Z"
    assert body["updated"] > body["created"]
    assert TIMESTAMP.match(body["updated"])


def test_patch_with_an_empty_object_keeps_every_field(schema_db, admin):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    record = admin.post(records_url("notes"), {"title": "t"}, format="json").json()
    patched = admin.patch(records_url("notes", record["id"]), {}, format="json")
    assert patched.status_code == 200
    assert patched.json()["title"] == "t"


@pytest.mark.parametrize("system_field", ["created", "updated"])
def test_system_timestamps_cannot_be_written(schema_db, admin, system_field):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    response = admin.post(
        records_url("notes"), {system_field: "2000-01-01T00:00:00.000Z"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == system_field


def test_a_record_id_cannot_change_on_patch(schema_db, admin):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    record = admin.post(records_url("notes"), {}, format="json").json()
    response = admin.patch(
        records_url("notes", record["id"]), {"id": "a" * 15}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "id"
    assert admin.get(records_url("notes", record["id"])).status_code == 200


# --- delete --------------------------------------------------------------------------


def test_delete_answers_204_and_the_record_is_gone(schema_db, admin):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    record = admin.post(records_url("notes"), {"title": "t"}, format="json").json()

    deleted = admin.delete(records_url("notes", record["id"]))

    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = admin.get(records_url("notes", record["id"]))
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "record_not_found"
    assert admin.delete(records_url("notes", record["id"])).status_code == 404
    assert (
        admin.patch(records_url("notes", record["id"]), {}, format="json").status_code
        == 404
    )


# --- client-chosen ids -----------------------------------------------------------------


def test_a_client_chosen_id_is_kept(schema_db, admin):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    response = admin.post(
        records_url("notes"), {"id": "abcdefghij12345"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["id"] == "abcdefghij12345"
    assert admin.get(records_url("notes", "abcdefghij12345")).status_code == 200


def test_a_duplicate_client_chosen_id_is_409_and_keeps_the_first_record(
    schema_db, admin
):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    admin.post(
        records_url("notes"), {"id": "abcdefghij12345", "title": "first"}, format="json"
    )

    response = admin.post(
        records_url("notes"),
        {"id": "abcdefghij12345", "title": "second"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["errors"][0]["param"] == "id"
    assert admin.get(records_url("notes", "abcdefghij12345")).json()["title"] == "first"
    assert model_of("notes").objects.count() == 1


@pytest.mark.parametrize(
    "bad_id",
    [
        "short",
        "ABCDEFGHIJ12345",
        "abcdefghij-1234",
        "abcdefghij123456",
        "",
        123456789012345,
        None,
    ],
)
def test_a_malformed_client_chosen_id_is_400(schema_db, admin, bad_id):
    create_collection(admin, "notes", [{"name": "title", "type": "text"}])
    response = admin.post(records_url("notes"), {"id": bad_id}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "id"
    assert model_of("notes").objects.count() == 0


# --- list --------------------------------------------------------------------------------


def make_notes(admin, count: int) -> list[str]:
    create_collection(admin, "notes", [{"name": "n", "type": "number"}])
    ids = []
    for number in range(count):
        response = admin.post(records_url("notes"), {"n": number}, format="json")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    return ids


def test_list_returns_items_and_no_cursor_when_everything_fits(schema_db, admin):
    ids = make_notes(admin, 3)
    body = admin.get(records_url("notes")).json()
    assert sorted(r["id"] for r in body["items"]) == sorted(ids)
    assert body["next_cursor"] is None
    assert "total" not in body


def test_list_of_an_empty_collection_is_empty(schema_db, admin):
    make_notes(admin, 0)
    assert admin.get(records_url("notes")).json() == {"items": [], "next_cursor": None}


def test_list_limit_defaults_to_50(schema_db, admin):
    make_notes(admin, 51)
    body = admin.get(records_url("notes")).json()
    assert len(body["items"]) == 50
    assert body["next_cursor"]


def test_list_accepts_the_maximum_limit_of_500(schema_db, admin):
    make_notes(admin, 2)
    response = admin.get(records_url("notes"), {"limit": 500})
    assert response.status_code == 200
    assert len(response.json()["items"]) == 2


def walk(admin, url: str, limit: int) -> tuple[list[str], int]:
    seen, pages, cursor = [], 0, None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = admin.get(url, params)
        assert response.status_code == 200, response.content
        body = response.json()
        pages += 1
        assert len(body["items"]) <= limit
        seen += [r["id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 100, "the cursor never ends"


def test_walking_every_cursor_page_returns_each_record_exactly_once(schema_db, admin):
    ids = make_notes(admin, 11)
    seen, pages = walk(admin, records_url("notes"), 3)
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    assert pages == 4


def test_cursor_pages_are_exact_when_records_share_one_created_time(schema_db, admin):
    ids = make_notes(admin, 9)
    backdate("notes", dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    seen, _ = walk(admin, records_url("notes"), 2)
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def test_list_is_newest_first(schema_db, admin):
    ids = make_notes(admin, 3)
    for age, record_id in enumerate(ids):
        backdate("notes", dt.datetime(2020, 1, 3 - age, tzinfo=dt.UTC), pk=record_id)
    items = admin.get(records_url("notes")).json()["items"]
    assert [r["id"] for r in items] == ids


def test_page_parameter_gives_offset_pages(schema_db, admin):
    ids = make_notes(admin, 7)
    for age, record_id in enumerate(ids):
        backdate("notes", dt.datetime(2020, 1, 10 - age, tzinfo=dt.UTC), pk=record_id)
    pages = [
        [
            r["id"]
            for r in admin.get(records_url("notes"), {"limit": 3, "page": p}).json()[
                "items"
            ]
        ]
        for p in (1, 2, 3, 4)
    ]
    assert pages == [ids[0:3], ids[3:6], ids[6:7], []]


def test_count_true_adds_the_total(schema_db, admin):
    make_notes(admin, 4)
    body = admin.get(records_url("notes"), {"count": "true", "limit": 1}).json()
    assert body["total"] == 4
    assert len(body["items"]) == 1


def test_list_items_render_like_single_records(schema_db, admin):
    create_collection(
        admin,
        "notes",
        [
            {"name": "title", "type": "text"},
            {
                "name": "tags",
                "type": "select",
                "options": {"values": ["x", "y"], "multiple": True},
            },
            {
                "name": "links",
                "type": "relation",
                "options": {"collection": "notes", "multiple": True},
            },
        ],
    )
    first = admin.post(records_url("notes"), {"title": "a"}, format="json").json()
    second = admin.post(
        records_url("notes"),
        {"title": "b", "tags": ["y"], "links": [first["id"]]},
        format="json",
    ).json()
    items = {r["id"]: r for r in admin.get(records_url("notes")).json()["items"]}
    assert items[first["id"]] == admin.get(records_url("notes", first["id"])).json()
    assert items[second["id"]] == second
    assert items[second["id"]]["links"] == [first["id"]]


def test_collection_names_in_record_urls_are_case_insensitive(schema_db, admin):
    create_collection(admin, "Notes", [{"name": "title", "type": "text"}])
    created = admin.post(records_url("notes"), {"title": "x"}, format="json")
    assert created.status_code == 201
    assert admin.get(records_url("NOTES", created.json()["id"])).status_code == 200


# --- the built-in `users` collection -----------------------------------------------------

USERS = "/api/v1/collections/users/records"
CREDENTIAL_KEYS = {"password", "is_superuser", "is_staff", "is_active", "last_login"}


def assert_no_credentials(response, *users) -> None:
    text = response.content.decode()
    for key in CREDENTIAL_KEYS:
        assert f'"{key}"' not in text
    for user in users:
        user.refresh_from_db()
        assert user.password and user.password not in text


def test_a_superuser_lists_users_without_any_credential_column(
    schema_db, admin, superuser, app_user
):
    response = admin.get(USERS, {"count": "true"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2
    by_email = {r["email"]: r for r in body["items"]}
    assert set(by_email) == {superuser.email, app_user.email}
    assert set(by_email[app_user.email]) == {"id", "created", "updated", "email"}
    assert TIMESTAMP.match(by_email[app_user.email]["created"])
    assert_no_credentials(response, superuser, app_user)


def test_a_superuser_reads_one_user_without_credentials(schema_db, admin, app_user):
    response = admin.get(f"{USERS}/{app_user.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": app_user.pk,
        "email": app_user.email,
        "created": response.json()["created"],
        "updated": response.json()["updated"],
    }
    assert_no_credentials(response, app_user)


def test_a_read_key_lists_users_without_credentials(schema_db, key_client, app_user):
    response = key_client("records:read").get(USERS)
    assert response.status_code == 200
    assert [r["email"] for r in response.json()["items"]] == [app_user.email]
    assert_no_credentials(response, app_user)


def test_custom_user_fields_appear_next_to_the_email(schema_db, admin, app_user):
    response = admin.patch(
        "/api/v1/collections/users",
        {"fields": [{"name": "nickname", "type": "text"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    patched = admin.patch(f"{USERS}/{app_user.pk}", {"nickname": "Nick"}, format="json")
    assert patched.status_code == 200
    assert set(patched.json()) == {"id", "created", "updated", "email", "nickname"}
    assert_no_credentials(patched, app_user)


def test_a_user_created_through_the_records_api_can_log_in(schema_db, admin):
    from apps.accounts.models import User

    response = admin.post(
        USERS,
        {"email": "New.Person@Example.com", "password": "Correct-Horse-42"},
        format="json",
    )

    assert response.status_code == 201, response.content
    record = response.json()
    assert record["email"] == "new.person@example.com"
    assert set(record) == {"id", "created", "updated", "email"}
    assert "Correct-Horse-42" not in response.content.decode()
    user = User.objects.get(pk=record["id"])
    assert user.check_password("Correct-Horse-42")
    assert user.password != "Correct-Horse-42"
    assert (user.is_superuser, user.is_staff, user.is_active) == (False, False, True)
    login = APIClient().post(
        "/api/v1/auth/login",
        {"email": "new.person@example.com", "password": "Correct-Horse-42"},
        format="json",
    )
    assert login.status_code == 200, login.content


@pytest.mark.parametrize(
    "body, param",
    [
        ({"email": "weak@example.com", "password": "short"}, "password"),
        ({"email": "weak@example.com", "password": "password123"}, "password"),
        ({"email": "weak@example.com", "password": ""}, "password"),
        ({"email": "weak@example.com", "password": 12345678901}, "password"),
        ({"email": "weak@example.com", "password": "x" * 300}, "password"),
        ({"email": "weak@example.com"}, "password"),
        ({"password": "Correct-Horse-42"}, "email"),
        ({"email": "not an email", "password": "Correct-Horse-42"}, "email"),
        ({"email": None, "password": "Correct-Horse-42"}, "email"),
        ({"email": "a\x00@example.com", "password": "Correct-Horse-42"}, "email"),
        (
            {
                "email": "weak@example.com",
                "password": "Correct-Horse-42",
                "is_superuser": True,
            },
            "is_superuser",
        ),
        (
            {
                "email": "weak@example.com",
                "password": "Correct-Horse-42",
                "is_staff": True,
            },
            "is_staff",
        ),
        (
            {
                "email": "weak@example.com",
                "password": "Correct-Horse-42",
                "last_login": None,
            },
            "last_login",
        ),
    ],
)
def test_creating_a_user_with_bad_credentials_is_400_and_creates_nobody(
    schema_db, admin, body, param
):
    from apps.accounts.models import User

    before = User.objects.count()
    response = admin.post(USERS, body, format="json")
    assert response.status_code == 400, response.content
    assert param in [e.get("param") for e in response.json()["errors"]]
    assert User.objects.count() == before


@pytest.mark.parametrize("email", ["user1@example.com", "USER1@Example.COM"])
def test_creating_a_user_with_a_taken_email_is_409(schema_db, admin, app_user, email):
    from apps.accounts.models import User

    response = admin.post(
        USERS, {"email": email, "password": "Correct-Horse-42"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["param"] == "email"
    assert User.objects.filter(email__iexact=email).count() == 1


def test_changing_a_users_email_to_a_taken_one_is_409(
    schema_db, admin, app_user, make_user
):
    other = make_user("other@example.com")
    response = admin.patch(
        f"{USERS}/{other.pk}", {"email": "USER1@example.com"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["param"] == "email"
    other.refresh_from_db()
    assert other.email == "other@example.com"


def test_a_password_change_through_patch_is_hashed_and_never_echoed(
    schema_db, admin, app_user
):
    response = admin.patch(
        f"{USERS}/{app_user.pk}", {"password": "Brand-New-Pass-9"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert "Brand-New-Pass-9" not in response.content.decode()
    assert_no_credentials(response, app_user)
    app_user.refresh_from_db()
    assert app_user.check_password("Brand-New-Pass-9")
    weak = admin.patch(f"{USERS}/{app_user.pk}", {"password": "123"}, format="json")
    assert weak.status_code == 400
    app_user.refresh_from_db()
    assert app_user.check_password("Brand-New-Pass-9")
