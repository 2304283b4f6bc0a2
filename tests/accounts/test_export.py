"""GET /api/v1/account/export: everything stored about the caller as one JSON download,
and nothing that is a credential or another person's account."""

from __future__ import annotations

import orjson
import pytest
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from rest_framework.test import APIClient

from tests.conftest import USER_PASSWORD, client_with, login

EXPORT = "/api/v1/account/export"
USERS = "/api/v1/collections/users/records"


def download(client) -> dict:
    response = client.get(EXPORT)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="account-')
    assert disposition.endswith('.json"')
    assert "no-store" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    return orjson.loads(body)


def make_collection(admin, name: str, *fields: dict) -> None:
    rules = dict.fromkeys(["list", "view", "create", "update", "delete"], None)
    response = admin.post(
        "/api/v1/collections",
        {"name": name, "fields": list(fields), "rules": rules},
        format="json",
    )
    assert response.status_code == 201, response.content


def relation(name: str, **options) -> dict:
    return {
        "name": name,
        "type": "relation",
        "options": {"collection": "users", **options},
    }


@pytest.fixture
def rich_account(schema_db, admin, app_user, make_user):
    """An account with a profile, a hidden field, social login, second factors, two
    devices, and records in collections that point at it (and at someone else)."""
    other = make_user("other@example.com")
    response = admin.patch(
        "/api/v1/collections/users",
        {
            "fields": [
                {"name": "nickname", "type": "text"},
                {"name": "score", "type": "number", "hidden": True},
                relation("friends", multiple=True),
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    admin.patch(
        f"{USERS}/{app_user.pk}",
        {"nickname": "Nick", "score": 7, "friends": [other.pk]},
        format="json",
    )
    # Someone else's account listing this one as a friend: theirs, not exported.
    admin.patch(f"{USERS}/{other.pk}", {"friends": [app_user.pk]}, format="json")
    make_collection(
        admin,
        "posts",
        {"name": "title", "type": "text"},
        {"name": "secret_note", "type": "text", "hidden": True},
        relation("author"),
    )
    make_collection(
        admin,
        "teams",
        {"name": "name", "type": "text"},
        relation("members", multiple=True),
    )
    make_collection(admin, "unrelated", {"name": "x", "type": "text"})
    posts = "/api/v1/collections/posts/records"
    for title, author in (
        ("mine", app_user.pk),
        ("theirs", other.pk),
        ("mine too", app_user.pk),
    ):
        created = admin.post(
            posts, {"title": title, "secret_note": "n", "author": author}, format="json"
        )
        assert created.status_code == 201, created.content
    admin.post(
        "/api/v1/collections/teams/records",
        {"name": "both", "members": [other.pk, app_user.pk]},
        format="json",
    )
    admin.post(
        "/api/v1/collections/teams/records",
        {"name": "only them", "members": [other.pk]},
        format="json",
    )
    admin.post("/api/v1/collections/unrelated/records", {"x": "y"}, format="json")
    SocialAccount.objects.create(
        user=app_user,
        provider="google",
        uid="g-123",
        extra_data={"access_token": "ya29.provider-token", "name": "Nick"},
    )
    APIClient().post(
        "/api/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
        HTTP_USER_AGENT="Laptop/1.0",
    )
    client = client_with(login(app_user.email, USER_PASSWORD))
    # (second factors after signing in: with them, login asks for the second step)
    Authenticator.objects.create(
        user=app_user, type="totp", data={"secret": "TOTPSECRETBASE32"}
    )
    Authenticator.objects.create(
        user=app_user, type="recovery_codes", data={"seed": "RECOVERYSEEDVALUE"}
    )
    return client


def test_the_export_holds_everything_about_the_caller(rich_account, app_user):
    document = download(rich_account)

    assert document["format"] == "baas.account-export.v1"
    user = document["user"]
    assert user["id"] == app_user.pk
    assert user["email"] == "user1@example.com"
    assert user["nickname"] == "Nick"
    assert user["score"] == 7  # hidden from the app, still data about this person
    assert len(user["friends"]) == 1
    assert document["account"]["is_guest"] is False
    assert document["account"]["has_usable_password"] is True
    assert document["account"]["last_login"]
    assert document["email_addresses"] == [
        {"email": "user1@example.com", "primary": True, "verified": True}
    ]
    [social] = document["social_accounts"]
    assert (social["provider"], social["uid"]) == ("google", "g-123")
    assert social["date_joined"]
    assert sorted(a["type"] for a in document["authenticators"]) == [
        "recovery_codes",
        "totp",
    ]
    agents = {s["user_agent"] for s in document["sessions"]}
    assert "Laptop/1.0" in agents and len(document["sessions"]) == 2
    assert all(
        s["ip"] and s["created"] and s["last_seen"] for s in document["sessions"]
    )


def test_records_pointing_at_the_caller_are_exported_with_every_field(
    rich_account, app_user
):
    document = download(rich_account)

    collections = {c["collection"]: c for c in document["collections"]}
    assert set(collections) == {"posts", "teams"}
    posts = collections["posts"]
    assert posts["fields"] == ["author"]
    assert sorted(r["title"] for r in posts["records"]) == ["mine", "mine too"]
    assert all(r["secret_note"] == "n" for r in posts["records"])
    assert all(r["author"] == app_user.pk for r in posts["records"])
    assert {"id", "created", "updated"} <= set(posts["records"][0])
    teams = collections["teams"]
    assert [r["name"] for r in teams["records"]] == ["both"]
    assert app_user.pk in teams["records"][0]["members"]


def test_no_credential_or_other_persons_account_is_in_the_export(
    rich_account, app_user
):
    from django.contrib.sessions.models import Session

    from apps.accounts.models import User

    response = rich_account.get(EXPORT)
    text = b"".join(response.streaming_content).decode()

    app_user.refresh_from_db()
    for secret in (
        app_user.password,
        "TOTPSECRETBASE32",
        "RECOVERYSEEDVALUE",
        "ya29.provider-token",
        *Session.objects.values_list("session_key", flat=True),
    ):
        assert secret not in text
    for key in ('"password"', '"session_key"', '"secret"', '"extra_data"'):
        assert key not in text
    other = User.objects.get(email="other@example.com")
    assert "other@example.com" not in text  # their account record is not exported
    assert other.pk in text  # (their id appears only as a reference in shared records)


def test_a_guest_exports_its_account_with_a_null_email(db):
    body = APIClient().post("/api/v1/auth/guest").json()
    client = client_with(body["meta"]["access_token"])

    document = download(client)

    assert document["user"]["id"] == body["data"]["user"]["id"]
    assert document["user"]["email"] is None
    assert document["account"]["is_guest"] is True
    assert document["account"]["has_usable_password"] is False
    assert document["email_addresses"] == [] and document["collections"] == []


def test_many_records_are_exported_in_batches_completely(schema_db, admin, app_user):
    from apps.records.records import record_create

    make_collection(admin, "events", {"name": "n", "type": "number"}, relation("owner"))
    from apps.accounts.models import User

    superuser = User.objects.get(is_superuser=True)
    for n in range(205):  # more than one batch (apps.accounts.export.BATCH)
        record_create(
            actor=superuser, collection="events", data={"n": n, "owner": app_user.pk}
        )
    client = client_with(login(app_user.email, USER_PASSWORD))

    document = download(client)

    [events] = document["collections"]
    assert sorted(r["n"] for r in events["records"]) == list(range(205))


def test_the_export_needs_a_signed_in_user(db):
    response = APIClient().get(EXPORT)
    assert response.status_code == 401
    assert response.json()["meta"]["is_authenticated"] is False


def test_an_api_key_cannot_export_anyone(db, key_client, app_user):
    assert key_client("records:read", "schema").get(EXPORT).status_code == 401


def test_exports_are_rate_limited_per_user(db, app_user, make_user):
    client = client_with(login(app_user.email, USER_PASSWORD))
    statuses = [client.get(EXPORT).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert client.get(EXPORT).json()["errors"][0]["code"] == "rate_limited"
    someone_else = make_user("else@example.com")
    other = client_with(login(someone_else.email, USER_PASSWORD))
    assert other.get(EXPORT).status_code == 200


def test_the_export_does_not_need_a_recent_reauthentication(db, app_user):
    client = client_with(login(app_user.email, USER_PASSWORD))
    assert client.get(EXPORT).status_code == 200
