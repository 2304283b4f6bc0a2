"""BAAS_REQUIRE_SUPERUSER_MFA: a superuser without a second factor holds no superuser
privileges (operator endpoints say `mfa_required`, record rules apply to them as to
anyone) until they set one up and sign in with it; API keys are unaffected."""

from __future__ import annotations

import pytest

from tests.accounts.test_mfa import (
    AUTHENTICATORS,
    TOTP,
    TWO_FA_REAUTH,
    enable_totp,
    pending_session_token,
    recovery_codes_of,
    second_factor,
    totp_code,
)
from tests.accounts.test_passkeys import add_passkey
from tests.accounts.webauthn_authenticator import SoftwareAuthenticator
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, client_with, login

COLLECTIONS = "/api/v1/collections"
LOCKED = "/api/v1/collections/locked/records"  # every rule null: superusers only
OPEN = "/api/v1/collections/open/records"  # public, with a hidden field


@pytest.fixture
def require_mfa(settings):
    settings.BAAS_REQUIRE_SUPERUSER_MFA = True


@pytest.fixture
def records(schema_db, key_client):
    """Two collections with one record each, made by API keys (not by a superuser)."""
    schema = key_client("schema")
    for name, rules, hidden in [
        (
            "locked",
            dict.fromkeys(("list", "view", "create", "update", "delete")),
            False,
        ),
        (
            "open",
            dict.fromkeys(("list", "view", "create", "update", "delete"), ""),
            True,
        ),
    ]:
        response = schema.post(
            COLLECTIONS,
            {
                "name": name,
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "secret", "type": "text", "hidden": hidden},
                ],
                "rules": rules,
            },
            format="json",
        )
        assert response.status_code == 201, response.content
    writer = key_client("records:write")
    for path in (LOCKED, OPEN):
        body = {"title": "marked-title", "secret": "marked-secret"}
        assert writer.post(path, body, format="json").status_code == 201


def assert_mfa_required(response) -> None:
    assert response.status_code == 403, response.content
    error = response.json()["errors"][0]
    assert error["code"] == "mfa_required"
    assert "two-factor" in error["message"]


def test_a_superuser_without_mfa_is_told_to_set_it_up(db, require_mfa, admin):
    assert_mfa_required(admin.get(COLLECTIONS))
    assert_mfa_required(
        admin.post(COLLECTIONS, {"name": "x", "fields": []}, format="json")
    )


def test_a_superuser_without_mfa_gets_no_bypass_of_record_rules(
    require_mfa, records, admin
):
    locked = admin.get(LOCKED)
    assert locked.status_code == 403  # as for any signed-in user
    assert locked.json()["errors"][0]["code"] == "forbidden"
    assert b"marked" not in locked.content
    assert admin.post(LOCKED, {"title": "x"}, format="json").status_code == 403
    public = admin.get(OPEN)
    assert public.status_code == 200
    assert b"marked-title" in public.content
    assert b"marked-secret" not in public.content  # hidden fields stay hidden


def test_with_the_setting_off_superusers_keep_their_privileges(
    settings, records, admin
):
    settings.BAAS_REQUIRE_SUPERUSER_MFA = False
    assert admin.get(COLLECTIONS).status_code == 200
    assert b"marked-secret" in admin.get(LOCKED).content
    assert b"marked-secret" in admin.get(OPEN).content


def test_a_superuser_can_still_set_up_mfa(db, require_mfa, admin):
    assert admin.get(AUTHENTICATORS).status_code == 200
    enable_totp(admin, ADMIN_PASSWORD)
    types = {a["type"] for a in admin.get(AUTHENTICATORS).json()["data"]}
    assert "totp" in types


def test_with_totp_set_up_the_superuser_signs_in_with_it_and_is_privileged(
    require_mfa, records, superuser, admin
):
    secret = enable_totp(admin, ADMIN_PASSWORD)
    session_token = pending_session_token(ADMIN_EMAIL, ADMIN_PASSWORD)
    done = second_factor(session_token, totp_code(secret))
    assert done.status_code == 200, done.content
    client = client_with(done.json()["meta"]["access_token"])
    assert client.get(COLLECTIONS).status_code == 200
    assert b"marked-secret" in client.get(LOCKED).content
    assert b"marked-secret" in client.get(OPEN).content


def test_a_passkey_counts_as_the_superusers_second_factor(
    db, require_mfa, superuser, admin
):
    reauth = admin.post(
        "/api/v1/auth/reauthenticate", {"password": ADMIN_PASSWORD}, format="json"
    )
    assert reauth.status_code == 200
    assert_mfa_required(admin.get(COLLECTIONS))
    assert add_passkey(admin, SoftwareAuthenticator()).status_code == 200
    assert admin.get(COLLECTIONS).status_code == 200


def test_removing_the_second_factor_removes_the_privileges(
    db, require_mfa, superuser, admin
):
    enable_totp(admin, ADMIN_PASSWORD)
    assert admin.get(COLLECTIONS).status_code == 200
    spare = recovery_codes_of(superuser)[0]
    assert admin.post(TWO_FA_REAUTH, {"code": spare}, format="json").status_code == 200
    assert admin.delete(TOTP).status_code == 200
    assert_mfa_required(admin.get(COLLECTIONS))


def test_api_keys_and_plain_users_are_unaffected(
    db, require_mfa, key_client, user_client
):
    assert key_client("schema").get(COLLECTIONS).status_code == 200
    refused = user_client.get(COLLECTIONS)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "forbidden"


def test_the_setting_is_off_by_default_outside_production(db, settings, superuser):
    assert settings.BAAS_REQUIRE_SUPERUSER_MFA is False
    assert (
        client_with(login(ADMIN_EMAIL, ADMIN_PASSWORD)).get(COLLECTIONS).status_code
        == 200
    )
