"""Guest (anonymous) accounts over HTTP: sign in with no credentials, use the API like
anyone else, then upgrade in place to an email-and-password account (same id, same
records), with the address verified by allauth's code flow."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import override_settings
from rest_framework.test import APIClient

from apps.accounts.adapters import AccountAdapter
from tests.conftest import USER_PASSWORD, client_with, login

GUEST = "/api/v1/auth/guest"
UPGRADE = "/api/v1/auth/guest/upgrade"
VERIFY = "/api/v1/auth/email/verify"
USERS = "/api/v1/collections/users/records"
PASSWORD = "A-long-guest-pass-1"


def sign_in_guest(client=None, **headers) -> dict:
    response = (client or APIClient()).post(GUEST, **headers)
    assert response.status_code == 200, response.content
    return response.json()


def last_code() -> str:
    assert mail.outbox, "no email was sent"
    match = re.search(
        r"^([A-Z0-9]{4}-?[A-Z0-9]{4}|[A-Z0-9]{6})$", mail.outbox[-1].body, re.M
    )
    assert match, mail.outbox[-1].body
    return match.group(1)


def refresh(token: str):
    return APIClient().post(
        "/api/v1/tokens/refresh", {"refresh_token": token}, format="json"
    )


@pytest.fixture
def guest(db) -> dict:
    """{"user": ..., "client": a client signed in as a fresh guest, "meta": tokens}."""
    body = sign_in_guest()
    return {
        "user": body["data"]["user"],
        "meta": body["meta"],
        "client": client_with(body["meta"]["access_token"]),
    }


# --- signing in -------------------------------------------------------------------------


def test_a_guest_signs_in_with_no_body_and_gets_allauths_login_answer(db):
    from apps.accounts.models import User

    body = sign_in_guest()

    assert body["status"] == 200
    user = body["data"]["user"]
    assert user["is_guest"] is True
    assert user["has_usable_password"] is False
    assert "email" not in user  # allauth leaves out empty values
    meta = body["meta"]
    assert meta["is_authenticated"] is True
    assert meta["access_token"] and meta["refresh_token"]
    stored = User.objects.get(pk=user["id"])
    assert (stored.email, stored.is_guest) == (None, True)
    assert not stored.has_usable_password()
    assert not stored.emailaddress_set.exists()


def test_each_guest_sign_in_creates_a_new_account(db):
    first = sign_in_guest()["data"]["user"]["id"]
    second = sign_in_guest()["data"]["user"]["id"]
    assert first != second


def test_a_guests_tokens_work_refresh_and_list_its_device_session(guest):
    record = guest["client"].get(f"{USERS}/{guest['user']['id']}")
    assert record.status_code == 200, record.content
    assert record.json()["email"] is None
    assert refresh(guest["meta"]["refresh_token"]).status_code == 200
    sessions = guest["client"].get("/api/v1/auth/sessions")
    assert sessions.status_code == 200, sessions.content
    assert len(sessions.json()["data"]) == 1


def test_guests_are_users_records_with_a_null_email(guest, admin):
    response = admin.get(USERS, {"filter": "email = null"})
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["items"]] == [guest["user"]["id"]]
    assert response.json()["items"][0]["email"] is None
    assert "is_guest" not in response.json()["items"][0]


def test_guest_sign_in_while_signed_in_is_409(guest):
    assert guest["client"].post(GUEST).status_code == 409


def test_guest_sign_in_is_rate_limited_per_ip(db):
    statuses = [
        APIClient().post(GUEST, REMOTE_ADDR="203.0.113.9").status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    other_ip = APIClient().post(GUEST, REMOTE_ADDR="203.0.113.10")
    assert other_ip.status_code == 200


def test_rate_limited_guest_sign_in_answers_in_the_error_envelope(db):
    from apps.accounts.models import User

    for _ in range(10):
        APIClient().post(GUEST)
    before = User.objects.count()
    response = APIClient().post(GUEST)
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "rate_limited"
    assert User.objects.count() == before


def test_a_guest_signs_out_like_anyone(guest):
    response = guest["client"].delete("/api/v1/auth/session")
    assert response.status_code == 401
    assert guest["client"].get(USERS).status_code == 401


@override_settings(ACCOUNT_ADAPTER="tests.accounts.test_guest.ClosedAdapter")
def test_no_guests_when_sign_up_is_closed(db):
    from apps.accounts.models import User

    response = APIClient().post(GUEST)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "signup_closed"
    assert not User.objects.exists()


class ClosedAdapter(AccountAdapter):
    """An account adapter closed for sign-up (the app team's setting)."""

    def is_open_for_signup(self, request):
        return False


# --- rules --------------------------------------------------------------------------------


def test_a_rule_can_tell_guests_from_full_accounts(schema_db, admin, app_user):
    """Guests have no email: `@request.auth.email != null` keeps them out."""
    created = admin.post(
        "/api/v1/collections",
        {
            "name": "posts",
            "fields": [{"name": "title", "type": "text"}],
            "rules": {
                "list": "",
                "view": "",
                "create": "@request.auth.email != null",
                "update": None,
                "delete": None,
            },
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = sign_in_guest()
    guest_client = client_with(body["meta"]["access_token"])
    posts = "/api/v1/collections/posts/records"
    assert guest_client.post(posts, {"title": "x"}, format="json").status_code == 403
    member = client_with(login(app_user.email, USER_PASSWORD))
    assert member.post(posts, {"title": "x"}, format="json").status_code == 201


# --- upgrading ----------------------------------------------------------------------------


def test_upgrade_keeps_the_id_and_verifies_the_address_by_code(schema_db, admin):
    from apps.accounts.models import User
    from apps.collections.models import Change

    admin.post(
        "/api/v1/collections",
        {
            "name": "notes",
            "fields": [
                {"name": "text", "type": "text"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
            ],
            "rules": {
                "list": "owner = @request.auth.id",
                "view": "owner = @request.auth.id",
                "create": "owner = @request.auth.id",
                "update": None,
                "delete": None,
            },
        },
        format="json",
    )
    body = sign_in_guest()
    guest_id = body["data"]["user"]["id"]
    client = client_with(body["meta"]["access_token"])
    notes = "/api/v1/collections/notes/records"
    note = client.post(notes, {"text": "mine", "owner": guest_id}, format="json")
    assert note.status_code == 201, note.content

    response = client.post(
        UPGRADE, {"email": "Saved@Example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["data"]["email"] == "saved@example.com"
    assert answer["data"]["flows"] == [{"id": "verify_email", "is_pending": True}]
    assert answer["data"]["user"]["is_guest"] is True
    assert answer["data"]["user"]["has_usable_password"] is True
    assert mail.outbox[-1].to == ["saved@example.com"]
    # Until the code is confirmed, the account is still a guest without an address.
    assert User.objects.get(pk=guest_id).email is None

    verified = client.post(VERIFY, {"key": last_code()}, format="json")

    assert verified.status_code == 200, verified.content
    user = verified.json()["data"]["user"]
    assert user["id"] == guest_id
    assert user["email"] == "saved@example.com"
    assert user["is_guest"] is False
    stored = User.objects.get(pk=guest_id)
    assert (stored.email, stored.is_guest) == ("saved@example.com", False)
    address = stored.emailaddress_set.get()
    assert (address.email, address.primary, address.verified) == (
        "saved@example.com",
        True,
        True,
    )
    # The same device stays signed in, its records are still its own.
    assert [n["text"] for n in client.get(notes).json()["items"]] == ["mine"]
    assert Change.objects.filter(collection_id="users", record_id=guest_id).exists()
    # And the account now signs in anywhere with its address and password.
    login = APIClient().post(
        "/api/v1/auth/login",
        {"email": "saved@example.com", "password": PASSWORD},
        format="json",
    )
    assert login.status_code == 200, login.content
    assert login.json()["data"]["user"]["id"] == guest_id


def test_upgrade_with_a_taken_address_answers_the_same_and_mails_its_owner(
    guest, app_user
):
    from apps.accounts.models import User

    response = guest["client"].post(
        UPGRADE, {"email": "USER1@example.com", "password": PASSWORD}, format="json"
    )

    # Exactly the answer a free address gets: nothing tells the address is taken.
    assert response.status_code == 202, response.content
    assert response.json()["data"]["flows"] == [
        {"id": "verify_email", "is_pending": True}
    ]
    assert response.json()["data"]["email"] == "user1@example.com"
    assert mail.outbox[-1].to == ["user1@example.com"]
    assert not re.search(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$", mail.outbox[-1].body, re.M)
    # No code reached the guest: guessing one fails and nothing changes hands.
    wrong = guest["client"].post(VERIFY, {"key": "ABCD-EFGH"}, format="json")
    assert wrong.status_code == 400
    stored = User.objects.get(pk=guest["user"]["id"])
    assert (stored.email, stored.is_guest) == (None, True)
    assert User.objects.get(pk=app_user.pk).email == "user1@example.com"


def test_a_wrong_code_leaves_the_guest_a_guest(guest):
    from apps.accounts.models import User

    guest["client"].post(
        UPGRADE, {"email": "later@example.com", "password": PASSWORD}, format="json"
    )
    response = guest["client"].post(VERIFY, {"key": "ZZZZ-ZZZZ"}, format="json")
    assert response.status_code == 400
    stored = User.objects.get(pk=guest["user"]["id"])
    assert (stored.email, stored.is_guest) == (None, True)


@pytest.mark.parametrize(
    "body, param",
    [
        ({"email": "weak@example.com", "password": "short"}, "password"),
        ({"email": "weak@example.com", "password": "password123"}, "password"),
        ({"email": "weak@example.com", "password": "x" * 300}, "password"),
        ({"email": "weak@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
        ({"email": "not an email", "password": PASSWORD}, "email"),
        ({"email": None, "password": PASSWORD}, "email"),
        ({"email": ["a@example.com"], "password": PASSWORD}, "email"),
    ],
)
def test_upgrade_validates_like_sign_up_and_changes_nothing(guest, body, param):
    from apps.accounts.models import User

    response = guest["client"].post(UPGRADE, body, format="json")

    assert response.status_code == 400, response.content
    assert param in [e.get("param") for e in response.json()["errors"]]
    stored = User.objects.get(pk=guest["user"]["id"])
    assert (stored.email, stored.is_guest) == (None, True)
    assert not stored.has_usable_password()
    assert not mail.outbox


def test_upgrade_with_a_malformed_body_is_400_in_the_envelope(guest):
    response = guest["client"].post(
        UPGRADE, data=b"{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_a_full_account_cannot_upgrade(db, app_user, user_client):
    response = user_client.post(
        UPGRADE, {"email": "other@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "not_a_guest"
    app_user.refresh_from_db()
    assert app_user.email == "user1@example.com"
    assert app_user.check_password(USER_PASSWORD)


def test_upgrade_needs_a_signed_in_guest(db):
    response = APIClient().post(
        UPGRADE, {"email": "x@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["meta"]["is_authenticated"] is False


def test_an_api_key_cannot_upgrade_anyone(db, key_client):
    client = key_client("records:write", "schema")
    response = client.post(
        UPGRADE, {"email": "x@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 401


def test_a_superuser_cannot_upgrade_a_guest_for_it(guest, admin):
    response = admin.post(
        UPGRADE, {"email": "x@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403


def test_upgrade_keeps_the_device_signed_in_and_its_refresh_token_valid(guest):
    guest["client"].post(
        UPGRADE, {"email": "kept@example.com", "password": PASSWORD}, format="json"
    )
    assert guest["client"].get(USERS).status_code == 200
    assert refresh(guest["meta"]["refresh_token"]).status_code == 200


@override_settings(
    ACCOUNT_EMAIL_VERIFICATION="none", ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=False
)
def test_without_verification_the_upgrade_is_immediate(guest):
    from apps.accounts.models import User

    response = guest["client"].post(
        UPGRADE, {"email": "now@example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
    user = response.json()["data"]["user"]
    assert (user["id"], user["email"], user["is_guest"]) == (
        guest["user"]["id"],
        "now@example.com",
        False,
    )
    stored = User.objects.get(pk=guest["user"]["id"])
    assert (stored.email, stored.is_guest) == ("now@example.com", False)
    assert stored.check_password(PASSWORD)


@override_settings(
    ACCOUNT_EMAIL_VERIFICATION="none", ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED=False
)
def test_without_verification_a_taken_address_is_refused_as_sign_up_refuses_it(
    guest, app_user
):
    from apps.accounts.models import User

    response = guest["client"].post(
        UPGRADE, {"email": "User1@Example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == "email"
    stored = User.objects.get(pk=guest["user"]["id"])
    assert (stored.email, stored.is_guest) == (None, True)
    signup = APIClient().post(
        "/api/v1/auth/signup",
        {"email": "user1@example.com", "password": PASSWORD},
        format="json",
    )
    assert signup.status_code == 400  # sign-up says as much in this mode


def test_an_account_whose_address_is_removed_stores_null_not_empty(db):
    """allauth writes "" when an address goes away; "" must not collide in the index."""
    from apps.accounts.models import User

    first = User.objects.create_user(email="a@example.com", password=PASSWORD)
    second = User.objects.create_user(email="b@example.com", password=PASSWORD)
    for user in (first, second):
        user.email = ""
        user.save(update_fields=["email"])
    assert list(
        User.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "email", flat=True
        )
    ) == [None, None]


# --- the OpenAPI document ---------------------------------------------------------------


def test_the_openapi_document_describes_the_account_endpoints(db):
    from openapi_spec_validator import validate

    from apps.records.api import openapi_view

    openapi_view.forget_documents()
    response = APIClient().get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    validate(document)
    paths = document["paths"]
    assert set(paths[GUEST]) == {"post"}
    assert set(paths[UPGRADE]) == {"post"}
    assert set(paths["/api/v1/account"]) >= {"delete"}
    assert set(paths["/api/v1/account/export"]) >= {"get"}
    body = paths[UPGRADE]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["required"] == ["email", "password"]
    assert {"202", "400", "401", "403"} <= set(paths[UPGRADE]["post"]["responses"])
    assert {"204", "401", "409"} <= set(paths["/api/v1/account"]["delete"]["responses"])
    user = document["components"]["schemas"]["User"]
    assert "is_guest" in user["properties"]
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
