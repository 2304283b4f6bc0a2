"""The `users` collection through the records API: security columns are never shown and
never written, by the account itself, a superuser or an API key; profile fields that
app teams add are, and rules can read them as @request.auth.<field>.

(tests/records/test_records_crud.py already covers listing and reading users as a
superuser or a read key without credential columns, and creating users with them.)"""

from __future__ import annotations

import pytest

from tests.conftest import USER_PASSWORD, client_with, login

USERS = "/api/v1/collections/users/records"
SECURITY = (
    "password",
    "is_superuser",
    "is_staff",
    "is_active",
    "last_login",
    "is_guest",
)
FORBIDDEN_WRITES = {
    "is_superuser": True,
    "is_staff": True,
    "is_active": False,
    "last_login": "2030-01-01T00:00:00Z",
    "is_guest": True,
    "groups": [1],
    "user_permissions": [1],
}


@pytest.fixture
def actors(schema_db, superuser, app_user, key_client):
    """name -> a client: the account itself, a superuser, a records:write key."""
    return {
        "self": client_with(login(app_user.email, USER_PASSWORD)),
        "superuser": client_with(login(superuser.email, "AdminPass123!")),
        "key": key_client("records:read", "records:write"),
    }


def stored(user) -> tuple:
    user.refresh_from_db()
    return (
        user.password,
        user.email,
        user.is_superuser,
        user.is_staff,
        user.is_active,
        user.last_login,
        user.is_guest,
    )


@pytest.mark.parametrize("actor", ["self", "superuser", "key"])
def test_reading_a_user_never_shows_a_security_column(actors, app_user, actor):
    response = actors[actor].get(f"{USERS}/{app_user.pk}")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"id", "created", "updated", "email"}
    listed = actors[actor].get(USERS)
    assert listed.status_code == 200
    text = response.content.decode() + listed.content.decode()
    for column in SECURITY:
        assert f'"{column}"' not in text
    app_user.refresh_from_db()
    assert app_user.password not in text


@pytest.mark.parametrize("actor", ["self", "superuser", "key"])
@pytest.mark.parametrize("column", sorted(FORBIDDEN_WRITES))
def test_writing_a_security_column_is_400_naming_it_and_changes_nothing(
    actors, app_user, actor, column
):
    before = stored(app_user)

    response = actors[actor].patch(
        f"{USERS}/{app_user.pk}", {column: FORBIDDEN_WRITES[column]}, format="json"
    )

    assert response.status_code == 400, response.content
    assert column in [e.get("param") for e in response.json()["errors"]]
    assert stored(app_user) == before


@pytest.mark.parametrize("actor", ["superuser", "key"])
def test_security_columns_cannot_be_set_when_creating_a_user(actors, actor):
    from apps.accounts.models import User

    for column, value in FORBIDDEN_WRITES.items():
        if column == "password":
            continue
        response = actors[actor].post(
            USERS,
            {"email": "new@example.com", "password": "A-long-pass-1", column: value},
            format="json",
        )
        assert response.status_code == 400, (column, response.content)
        assert column in [e.get("param") for e in response.json()["errors"]]
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize(
    "change", [{"password": "Taken-Over-Pass-1"}, {"email": "attacker@example.com"}]
)
def test_an_account_cannot_change_its_password_or_email_through_patch(
    actors, app_user, change
):
    before = stored(app_user)
    response = actors["self"].patch(f"{USERS}/{app_user.pk}", change, format="json")
    assert response.status_code in (400, 403), response.content
    assert stored(app_user) == before


def test_a_user_cannot_touch_another_users_record(actors, app_user, make_user):
    other = make_user("other@example.com")
    before = stored(other)
    client = actors["self"]
    assert client.get(f"{USERS}/{other.pk}").status_code == 404
    assert client.patch(f"{USERS}/{other.pk}", {}, format="json").status_code == 404
    for body in ({"email": "x@example.com"}, {"password": "Another-Pass-9"}):
        # Refused before the record is looked up: the same 403 for any id.
        response = client.patch(f"{USERS}/{other.pk}", body, format="json")
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "field_forbidden"
        missing = client.patch(f"{USERS}/nosuchuser", body, format="json")
        assert missing.json() == response.json()
    assert stored(other) == before


def test_a_guest_cannot_make_itself_a_full_account_through_patch(schema_db):
    from rest_framework.test import APIClient

    from apps.accounts.models import User

    body = APIClient().post("/api/v1/auth/guest").json()
    guest_id = body["data"]["user"]["id"]
    client = client_with(body["meta"]["access_token"])
    response = client.patch(f"{USERS}/{guest_id}", {"is_guest": False}, format="json")
    assert response.status_code == 400
    assert User.objects.get(pk=guest_id).is_guest is True


# --- profile fields ------------------------------------------------------------------------


def test_profile_fields_are_added_by_schema_and_used_in_rules_as_request_auth(
    actors, admin, app_user, make_user
):
    added = admin.patch(
        "/api/v1/collections/users",
        {"fields": [{"name": "nickname", "type": "text"}]},
        format="json",
    )
    assert added.status_code == 200, added.content
    created = admin.post(
        "/api/v1/collections",
        {
            "name": "clubhouse",
            "fields": [{"name": "text", "type": "text"}],
            "rules": {
                "list": '@request.auth.nickname = "vip"',
                "view": '@request.auth.nickname = "vip"',
                "create": '@request.auth.nickname = "vip"',
                "update": None,
                "delete": None,
            },
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    clubhouse = "/api/v1/collections/clubhouse/records"
    me = actors["self"]
    # The account sets its own profile field (the users update rule: its own record).
    assert me.post(clubhouse, {"text": "hi"}, format="json").status_code == 403
    patched = me.patch(f"{USERS}/{app_user.pk}", {"nickname": "vip"}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["nickname"] == "vip"
    assert me.post(clubhouse, {"text": "hi"}, format="json").status_code == 201
    assert [r["text"] for r in me.get(clubhouse).json()["items"]] == ["hi"]
    # Someone without the nickname sees nothing and may write nothing.
    other = make_user("other@example.com")
    stranger = client_with(login(other.email, USER_PASSWORD))
    assert stranger.get(clubhouse).json()["items"] == []
    assert stranger.post(clubhouse, {"text": "x"}, format="json").status_code == 403
    # Nor can the stranger give itself the nickname on someone else's record.
    assert (
        stranger.patch(
            f"{USERS}/{app_user.pk}", {"nickname": "nobody"}, format="json"
        ).status_code
        == 404
    )


def test_an_unknown_request_auth_field_in_a_rule_is_refused_when_saved(
    schema_db, admin
):
    response = admin.post(
        "/api/v1/collections",
        {
            "name": "club",
            "fields": [{"name": "text", "type": "text"}],
            "rules": {"list": '@request.auth.password = "x"'},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == "rules.list"


def test_an_operator_setting_a_password_signs_the_account_out_everywhere(
    db, admin, app_user
):
    from tests.accounts.test_tokens import refresh, sign_in, works

    meta = sign_in(app_user.email)
    response = admin.patch(
        f"{USERS}/{app_user.pk}", {"password": "Set-By-Operator-1"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert not works(meta["access_token"])
    assert refresh(meta["refresh_token"]).status_code == 401
    sign_in(app_user.email, password="Set-By-Operator-1")


def test_an_operator_setting_an_email_keeps_the_address_list_in_step(
    db, admin, app_user
):
    from allauth.account.models import EmailAddress

    from tests.accounts.test_tokens import sign_in

    response = admin.patch(
        f"{USERS}/{app_user.pk}", {"email": "moved@example.com"}, format="json"
    )
    assert response.status_code == 200, response.content
    addresses = list(
        EmailAddress.objects.filter(user=app_user).values_list(
            "email", "verified", "primary"
        )
    )
    assert addresses == [("moved@example.com", True, True)]
    sign_in("moved@example.com")


def test_an_account_an_operator_creates_can_sign_in_at_once(db, admin):
    from tests.accounts.test_tokens import sign_in

    response = admin.post(
        USERS,
        {"email": "made@example.com", "password": "Made-By-Operator-1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    sign_in("made@example.com", password="Made-By-Operator-1")
