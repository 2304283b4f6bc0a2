"""DELETE /api/v1/account: a user deletes their own account after reauthenticating; the
relation fields' cascade settings decide what happens to their records; every device is
signed out; the `users` change log keeps the tombstone."""

from __future__ import annotations

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from rest_framework.test import APIClient

from tests.conftest import ADMIN_PASSWORD, USER_PASSWORD, client_with

ACCOUNT = "/api/v1/account"
REAUTHENTICATE = "/api/v1/auth/reauthenticate"
USERS = "/api/v1/collections/users/records"


def sign_in(email: str, password: str = USER_PASSWORD) -> dict:
    response = APIClient().post(
        "/api/v1/auth/login", {"email": email, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]


def reauthenticated(
    email: str, password: str = USER_PASSWORD
) -> tuple[APIClient, dict]:
    """A client signed in and just reauthenticated with its password (allauth's flow)."""
    meta = sign_in(email, password)
    client = client_with(meta["access_token"])
    response = client.post(REAUTHENTICATE, {"password": password}, format="json")
    assert response.status_code == 200, response.content
    return client, meta


def user_exists(pk: str) -> bool:
    from apps.accounts.models import User

    return User.objects.filter(pk=pk).exists()


def make_collection(admin, name: str, *fields: dict) -> None:
    rules = dict.fromkeys(["list", "view", "create", "update", "delete"], "")
    response = admin.post(
        "/api/v1/collections",
        {"name": name, "fields": list(fields), "rules": rules},
        format="json",
    )
    assert response.status_code == 201, response.content


def owner(name: str = "owner", **options) -> dict:
    return {
        "name": name,
        "type": "relation",
        "options": {"collection": "users", **options},
    }


# --- the happy path -------------------------------------------------------------------------


def test_a_reauthenticated_user_deletes_their_account(db, app_user):
    from apps.collections.models import Change

    client, meta = reauthenticated(app_user.email)

    response = client.delete(ACCOUNT)

    assert response.status_code == 204, response.content
    assert not user_exists(app_user.pk)
    tombstone = Change.objects.filter(
        collection_id="users", record_id=app_user.pk, op=Change.DELETE
    )
    assert tombstone.exists()
    # Signed out at once: the access token and the refresh token are dead.
    assert client.get(USERS).status_code == 401
    refresh = APIClient().post(
        "/api/v1/tokens/refresh",
        {"refresh_token": meta["refresh_token"]},
        format="json",
    )
    assert refresh.status_code == 401
    login = APIClient().post(
        "/api/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
    )
    assert login.status_code == 400


def test_every_device_is_signed_out(db, app_user):
    laptop = sign_in(app_user.email)
    client, _ = reauthenticated(app_user.email)

    assert client.delete(ACCOUNT).status_code == 204

    assert client_with(laptop["access_token"]).get(USERS).status_code == 401
    assert not UserSession.objects.filter(user_id=app_user.pk).exists()
    assert not [
        s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id")
    ]


def test_the_address_can_sign_up_again_afterwards(db, app_user):
    client, _ = reauthenticated(app_user.email)
    assert client.delete(ACCOUNT).status_code == 204
    response = APIClient().post(
        "/api/v1/auth/signup",
        {"email": app_user.email, "password": "A-new-life-pass-1"},
        format="json",
    )
    assert response.status_code == 401  # the verify_email step of a new sign-up
    assert [f["id"] for f in response.json()["data"]["flows"] if f.get("is_pending")]


# --- reauthentication -------------------------------------------------------------------------


def test_without_a_recent_reauthentication_it_is_allauths_401_and_nothing_happens(
    db, app_user
):
    client = client_with(sign_in(app_user.email)["access_token"])

    response = client.delete(ACCOUNT)

    assert response.status_code == 401, response.content
    body = response.json()
    assert body["meta"]["is_authenticated"] is True
    assert {"id": "reauthenticate"} in body["data"]["flows"]
    assert user_exists(app_user.pk)
    assert client.get(USERS).status_code == 200
    # Reauthenticate, then the same request goes through.
    again = client.post(REAUTHENTICATE, {"password": USER_PASSWORD}, format="json")
    assert again.status_code == 200, again.content
    assert client.delete(ACCOUNT).status_code == 204


def test_a_wrong_password_does_not_reauthenticate(db, app_user):
    client = client_with(sign_in(app_user.email)["access_token"])
    wrong = client.post(REAUTHENTICATE, {"password": "not-it-at-all"}, format="json")
    assert wrong.status_code == 400
    assert client.delete(ACCOUNT).status_code == 401
    assert user_exists(app_user.pk)


def test_a_reauthentication_on_another_device_does_not_count(db, app_user):
    reauthenticated(app_user.email)
    other = client_with(sign_in(app_user.email)["access_token"])
    assert other.delete(ACCOUNT).status_code == 401
    assert user_exists(app_user.pk)


def test_a_guest_has_nothing_to_reauthenticate_with_and_deletes_at_once(db):
    from apps.collections.models import Change

    body = APIClient().post("/api/v1/auth/guest").json()
    guest_id = body["data"]["user"]["id"]
    client = client_with(body["meta"]["access_token"])

    assert client.delete(ACCOUNT).status_code == 204

    assert not user_exists(guest_id)
    assert Change.objects.filter(record_id=guest_id, op=Change.DELETE).exists()


# --- who may ------------------------------------------------------------------------------


def test_an_anonymous_caller_gets_401(db, app_user):
    response = APIClient().delete(ACCOUNT)
    assert response.status_code == 401
    assert response.json()["meta"]["is_authenticated"] is False
    assert user_exists(app_user.pk)


def test_an_api_key_is_not_an_account_and_gets_401(db, key_client, app_user):
    response = key_client("records:write", "schema").delete(ACCOUNT)
    assert response.status_code == 401
    assert user_exists(app_user.pk)


def test_other_methods_are_405(db, app_user):
    client, _ = reauthenticated(app_user.email)
    for method in ("get", "post", "patch", "put"):
        assert getattr(client, method)(ACCOUNT).status_code == 405
    assert user_exists(app_user.pk)


# --- what happens to the records -----------------------------------------------------------


def test_cascade_relations_delete_the_users_records_with_tombstones(
    schema_db, admin, app_user, make_user
):
    from apps.collections.models import Change

    make_collection(
        admin, "notes", {"name": "text", "type": "text"}, owner(cascade_delete=True)
    )
    other = make_user("other@example.com")
    notes = "/api/v1/collections/notes/records"
    mine = admin.post(notes, {"text": "mine", "owner": app_user.pk}, format="json")
    theirs = admin.post(notes, {"text": "theirs", "owner": other.pk}, format="json")
    client, _ = reauthenticated(app_user.email)

    assert client.delete(ACCOUNT).status_code == 204

    remaining = admin.get(notes).json()["items"]
    assert [n["id"] for n in remaining] == [theirs.json()["id"]]
    assert Change.objects.filter(record_id=mine.json()["id"], op=Change.DELETE).exists()


def test_a_restricting_relation_refuses_with_409_naming_it_and_deletes_nothing(
    schema_db, admin, app_user
):
    make_collection(admin, "posts", {"name": "title", "type": "text"}, owner("author"))
    make_collection(
        admin, "notes", {"name": "text", "type": "text"}, owner(cascade_delete=True)
    )
    admin.post(
        "/api/v1/collections/notes/records",
        {"text": "kept", "owner": app_user.pk},
        format="json",
    )
    admin.post(
        "/api/v1/collections/posts/records",
        {"title": "x", "author": app_user.pk},
        format="json",
    )
    client, _ = reauthenticated(app_user.email)

    response = client.delete(ACCOUNT)

    assert response.status_code == 409, response.content
    error = response.json()["errors"][0]
    assert error["code"] == "relation_restrict"
    assert "posts.author" in error["message"]
    assert user_exists(app_user.pk)
    assert len(admin.get("/api/v1/collections/notes/records").json()["items"]) == 1
    # Still signed in: the sessions ended in the same transaction came back.
    assert client.get(USERS).status_code == 200
    assert UserSession.objects.filter(user_id=app_user.pk).exists()


def test_a_cascade_never_reaches_a_superusers_account(
    schema_db, admin, superuser, app_user
):
    response = admin.patch(
        "/api/v1/collections/users",
        {"fields": [owner("buddy", cascade_delete=True)]},
        format="json",
    )
    assert response.status_code == 200, response.content
    patched = admin.patch(
        f"{USERS}/{superuser.pk}", {"buddy": app_user.pk}, format="json"
    )
    assert patched.status_code == 200, patched.content
    client, _ = reauthenticated(app_user.email)

    response = client.delete(ACCOUNT)

    assert response.status_code == 403, response.content
    assert user_exists(app_user.pk) and user_exists(superuser.pk)


def test_an_open_users_delete_rule_is_not_needed_nor_used(schema_db, admin, app_user):
    """The `users` delete rule is null (superusers only) by default; deleting one's own
    account is a right the rule does not take away."""
    users = admin.get("/api/v1/collections/users").json()
    assert users["rules"]["delete"] is None
    client, _ = reauthenticated(app_user.email)
    assert client.delete(f"{USERS}/{app_user.pk}").status_code == 403
    assert client.delete(ACCOUNT).status_code == 204


# --- superusers -----------------------------------------------------------------------------


def test_the_last_superuser_cannot_delete_their_account(db, superuser):
    client, _ = reauthenticated(superuser.email, ADMIN_PASSWORD)

    response = client.delete(ACCOUNT)

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "last_superuser"
    assert user_exists(superuser.pk)
    assert client.get(USERS).status_code == 200


@pytest.mark.parametrize("other_active", [True, False])
def test_a_superuser_may_go_while_another_active_one_remains(
    db, superuser, other_active
):
    from apps.accounts.models import User

    User.objects.create_superuser(
        email="second@example.com", password="Second-Pass-42", is_active=other_active
    )
    client, _ = reauthenticated(superuser.email, ADMIN_PASSWORD)

    response = client.delete(ACCOUNT)

    assert response.status_code == (204 if other_active else 409), response.content
    assert user_exists(superuser.pk) is not other_active
