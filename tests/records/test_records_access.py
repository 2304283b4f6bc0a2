"""Who may do what to records: a PocketBase-style scenario table (actor x action x outcome).

Until collection rules are enforced, records are open to superusers and to API keys with the
matching scope only. A refused request changes nothing and shows no record data.
"""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.utils import timezone

from apps.accounts.apikeys import apikey_create, apikey_revoke
from apps.collections.dynamic import cache
from apps.collections.services import get_spec
from tests.conftest import USER_PASSWORD, client_with, login

SECRET = "TOP-SECRET-VALUE-7f3a"
RECORDS = "/api/v1/collections/secrets/records"

ACTIONS = ("list", "view", "create", "update", "delete")
OK = {"list": 200, "view": 200, "create": 201, "update": 200, "delete": 204}

# actor -> expected status per action (None: the action's success status)
SCENARIOS = {
    "anonymous": dict.fromkeys(ACTIONS, 401),
    "app user": dict.fromkeys(ACTIONS, 403),
    "key records:read": {
        "list": None,
        "view": None,
        "create": 403,
        "update": 403,
        "delete": 403,
    },
    "key records:write": {
        "list": 403,
        "view": 403,
        "create": None,
        "update": None,
        "delete": None,
    },
    "key records:read+write": dict.fromkeys(ACTIONS, None),
    "key schema": dict.fromkeys(ACTIONS, 403),
    "key push:send": dict.fromkeys(ACTIONS, 403),
    "revoked key": dict.fromkeys(ACTIONS, 401),
    "expired key": dict.fromkeys(ACTIONS, 401),
    "unknown key": dict.fromkeys(ACTIONS, 401),
    "superuser": dict.fromkeys(ACTIONS, None),
}
CASES = [
    (actor, action, expected if expected is not None else OK[action])
    for actor, row in SCENARIOS.items()
    for action, expected in row.items()
]


def key(*scopes: str, expires_at=None) -> str:
    return apikey_create(name="scenario", scopes=list(scopes), expires_at=expires_at)[1]


@pytest.fixture
def actors(admin, make_user):
    def build(actor: str):
        if actor == "anonymous":
            from rest_framework.test import APIClient

            return APIClient()
        if actor == "superuser":
            return admin
        if actor == "app user":
            user = make_user("someone@example.com")
            return client_with(login(user.email, USER_PASSWORD))
        if actor == "revoked key":
            row, plaintext = apikey_create(
                name="old", scopes=["records:read", "records:write"]
            )
            apikey_revoke(key_id=row.pk)
            return client_with(plaintext)
        if actor == "expired key":
            past = timezone.now() - dt.timedelta(seconds=1)
            return client_with(key("records:read", "records:write", expires_at=past))
        if actor == "unknown key":
            real = key("records:read", "records:write")
            return client_with(
                real[:-4] + ("aaaa" if not real.endswith("aaaa") else "bbbb")
            )
        scopes = actor.removeprefix("key ").replace(
            "records:read+write", "records:read records:write"
        )
        return client_with(key(*scopes.split()))

    return build


@pytest.fixture
def secret_record(schema_db, admin) -> dict:
    response = admin.post(
        "/api/v1/collections",
        {"name": "secrets", "fields": [{"name": "title", "type": "text"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = admin.post(RECORDS, {"title": SECRET}, format="json")
    assert created.status_code == 201
    return created.json()


def perform(client, action: str, record_id: str):
    url = f"{RECORDS}/{record_id}"
    if action == "list":
        return client.get(RECORDS)
    if action == "view":
        return client.get(url)
    if action == "create":
        return client.post(RECORDS, {"title": "created by actor"}, format="json")
    if action == "update":
        return client.patch(url, {"title": "changed by actor"}, format="json")
    return client.delete(url)


def stored_titles() -> list[str]:
    model = cache.model_for(get_spec("secrets"))
    field = get_spec("secrets").field_by_name("title")
    return sorted(model.objects.values_list(field.attname, flat=True))


@pytest.mark.parametrize(
    "actor, action, expected", CASES, ids=[f"{a}-{b}" for a, b, _ in CASES]
)
def test_record_access_scenarios(secret_record, actors, actor, action, expected):
    client = actors(actor)

    response = perform(client, action, secret_record["id"])

    assert response.status_code == expected, response.content
    if expected >= 400:
        body = orjson.loads(response.content)
        assert body["status"] == expected
        assert body["errors"][0]["code"]
        assert SECRET not in response.content.decode()
        assert secret_record["id"] not in response.content.decode()
        assert stored_titles() == [SECRET], "a refused request changed data"
        if expected == 401:
            assert response["WWW-Authenticate"].startswith("Bearer")
        return
    if action in ("list", "view"):
        assert SECRET in response.content.decode()
    elif action == "create":
        assert stored_titles() == sorted([SECRET, "created by actor"])
    elif action == "update":
        assert stored_titles() == ["changed by actor"]
    else:
        assert stored_titles() == []


REFUSED = [
    (actor, method)
    for actor in (
        "anonymous",
        "app user",
        "key records:read",
        "key records:write",
        "key schema",
    )
    for method, action in (("get", "view"), ("patch", "update"), ("delete", "delete"))
    if SCENARIOS[actor][action] is not None
]


@pytest.mark.parametrize("actor, method", REFUSED)
def test_a_refused_actor_cannot_tell_existing_records_from_missing_ones(
    secret_record, actors, actor, method
):
    client = actors(actor)
    existing = getattr(client, method)(
        f"{RECORDS}/{secret_record['id']}", format="json"
    )
    missing = getattr(client, method)(f"{RECORDS}/doesnotexist123", format="json")
    assert existing.status_code == missing.status_code
    assert (
        orjson.loads(existing.content)["errors"][0]["code"]
        == orjson.loads(missing.content)["errors"][0]["code"]
    )


def test_a_read_only_key_cannot_sneak_a_write_through_a_refused_create(
    secret_record, actors
):
    client = actors("key records:read")
    response = client.post(
        RECORDS, {"id": "abcdefghij12345", "title": "x"}, format="json"
    )
    assert response.status_code == 403
    assert stored_titles() == [SECRET]
    assert actors("superuser").get(f"{RECORDS}/abcdefghij12345").status_code == 404


def test_access_is_checked_before_the_body_is_validated(secret_record, actors):
    """A caller without access learns nothing about the collection's fields."""
    response = actors("app user").post(RECORDS, {"no_such_field": 1}, format="json")
    assert response.status_code == 403
    assert "no_such_field" not in response.content.decode()
    assert "title" not in response.content.decode()


def test_a_deactivated_superuser_token_is_refused(secret_record, superuser):
    token = login("admin@example.com", "AdminPass123!")
    superuser.is_active = False
    superuser.save()
    response = client_with(token).get(RECORDS)
    assert response.status_code == 401
    assert SECRET not in response.content.decode()


def test_a_demoted_superuser_loses_record_access_at_once(secret_record, superuser):
    token = login("admin@example.com", "AdminPass123!")
    superuser.is_superuser = False
    superuser.save()
    response = client_with(token).get(RECORDS)
    assert response.status_code == 403
    assert SECRET not in response.content.decode()


def test_schema_endpoints_refuse_record_keys_and_app_users(secret_record, actors):
    for actor in ("key records:read", "key records:write", "app user"):
        client = actors(actor)
        assert client.get("/api/v1/collections").status_code == 403
        assert client.delete("/api/v1/collections/secrets").status_code == 403
    assert stored_titles() == [SECRET]


# --- a records:write key must not become a superuser by editing one ---------------------

USERS = "/api/v1/collections/users/records"


@pytest.mark.parametrize(
    "change",
    [{"password": "Taken-Over-Pass-1"}, {"email": "attacker@example.com"}],
)
def test_a_write_key_cannot_change_a_superusers_account(
    secret_record, actors, superuser, change
):
    client = actors("key records:write")

    response = client.patch(f"{USERS}/{superuser.pk}", change, format="json")

    assert response.status_code == 403, response.content
    superuser.refresh_from_db()
    assert superuser.email == "admin@example.com"
    assert superuser.check_password("AdminPass123!")


def test_a_write_key_cannot_delete_a_superuser(secret_record, actors, superuser):
    response = actors("key records:write").delete(f"{USERS}/{superuser.pk}")
    assert response.status_code == 403
    superuser.refresh_from_db()


def test_a_write_key_cannot_delete_a_superuser_through_a_cascade(
    secret_record, admin, actors, superuser
):
    response = admin.patch(
        "/api/v1/collections/users",
        {
            "fields": [
                {
                    "name": "home",
                    "type": "relation",
                    "options": {"collection": "secrets", "cascade_delete": True},
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert (
        admin.patch(
            f"{USERS}/{superuser.pk}", {"home": secret_record["id"]}, format="json"
        ).status_code
        == 200
    )

    response = actors("key records:write").delete(f"{RECORDS}/{secret_record['id']}")

    assert response.status_code == 403
    superuser.refresh_from_db()
    assert stored_titles() == [SECRET]


def test_a_write_key_manages_ordinary_users(secret_record, actors, app_user):
    client = actors("key records:write")
    assert (
        client.patch(
            f"{USERS}/{app_user.pk}", {"password": "Another-Pass-77"}, format="json"
        ).status_code
        == 200
    )
    app_user.refresh_from_db()
    assert app_user.check_password("Another-Pass-77")
    assert client.delete(f"{USERS}/{app_user.pk}").status_code == 204


def test_a_superuser_may_change_another_superuser(secret_record, admin):
    from apps.accounts.models import User

    other = User.objects.create_superuser(
        email="second@example.com", password="Second-Pass-42"
    )
    assert (
        admin.patch(
            f"{USERS}/{other.pk}", {"password": "Changed-Pass-42"}, format="json"
        ).status_code
        == 200
    )
    assert admin.delete(f"{USERS}/{other.pk}").status_code == 204
