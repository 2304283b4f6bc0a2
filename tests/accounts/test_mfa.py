"""Two-factor authentication over HTTP for the `app` client: an authenticator app (TOTP,
RFC 6238 computed here from the secret the server hands out) and recovery codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import pytest
from rest_framework.test import APIClient

from tests.conftest import USER_PASSWORD, client_with

ME = "/api/v1/collections/users/records"
LOGIN = "/api/v1/auth/login"
TOTP = "/api/v1/account/authenticators/totp"
AUTHENTICATORS = "/api/v1/account/authenticators"
RECOVERY_CODES = "/api/v1/account/authenticators/recovery-codes"
TWO_FA = "/api/v1/auth/2fa/authenticate"
TWO_FA_REAUTH = "/api/v1/auth/2fa/reauthenticate"
REAUTH = "/api/v1/auth/reauthenticate"
PERIOD = 30


# --- RFC 6238, as an authenticator app computes it -----------------------------------
def totp_code(secret: str, at: float | None = None) -> str:
    counter = int((time.time() if at is None else at) // PERIOD)
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**6:06d}"


def current_code(secret: str) -> str:
    """The code of the current 30-second window, waiting for the next window when this
    one is about to end (the server accepts the current window only)."""
    if PERIOD - time.time() % PERIOD < 3:
        time.sleep(PERIOD - time.time() % PERIOD + 0.1)
    return totp_code(secret)


def wrong_code(code: str) -> str:
    return "".join(str((int(digit) + 1) % 10) for digit in code)


# --- flows ---------------------------------------------------------------------------
def sign_in(email: str, password: str = USER_PASSWORD):
    return APIClient().post(
        LOGIN, {"email": email, "password": password}, format="json"
    )


def second_factor(session_token: str, code: str):
    return APIClient().post(
        TWO_FA, {"code": code}, format="json", HTTP_X_SESSION_TOKEN=session_token
    )


def pending_session_token(email: str, password: str = USER_PASSWORD) -> str:
    """Sign in with the password; the answer is the pending second-factor step."""
    response = sign_in(email, password)
    assert response.status_code == 401, response.content
    body = response.json()
    flow = next(f for f in body["data"]["flows"] if f["id"] == "mfa_authenticate")
    assert flow["is_pending"] is True
    assert "access_token" not in body["meta"]
    return body["meta"]["session_token"]


def enable_totp(client: APIClient, password: str = USER_PASSWORD) -> str:
    """The set-up screen: fetch a secret, confirm the password, confirm a code."""
    response = client.get(TOTP)
    assert response.status_code == 404, response.content  # no authenticator yet
    secret = response.json()["meta"]["secret"]
    reauth = client.post(REAUTH, {"password": password}, format="json")
    assert reauth.status_code == 200, reauth.content
    response = client.post(TOTP, {"code": current_code(secret)}, format="json")
    assert response.status_code == 200, response.content
    return secret


def signed_in_client(email: str) -> APIClient:
    response = sign_in(email)
    assert response.status_code == 200, response.content
    return client_with(response.json()["meta"]["access_token"])


@pytest.fixture
def totp_user(app_user):
    """An app user with an authenticator app set up, its secret, and the signed-in
    client that set it up (recently re-authenticated)."""
    client = signed_in_client(app_user.email)
    return app_user, enable_totp(client), client


def recovery_codes(client: APIClient) -> list[str]:
    response = client.get(RECOVERY_CODES)
    assert response.status_code == 200, response.content
    return response.json()["data"]["unused_codes"]


# --- set-up --------------------------------------------------------------------------
def test_totp_set_up_starts_with_a_secret_and_an_otpauth_url(db, app_user):
    response = signed_in_client(app_user.email).get(TOTP)
    assert response.status_code == 404  # not set up yet: here is a secret to set it up
    meta = response.json()["meta"]
    assert base64.b32decode(meta["secret"])
    assert meta["totp_url"].startswith("otpauth://totp/")
    assert f"secret={meta['secret']}" in meta["totp_url"]


def test_activating_totp_first_asks_to_confirm_the_password(db, app_user):
    client = signed_in_client(app_user.email)
    secret = client.get(TOTP).json()["meta"]["secret"]
    response = client.post(TOTP, {"code": current_code(secret)}, format="json")
    assert response.status_code == 401
    assert {"id": "reauthenticate"} in response.json()["data"]["flows"]
    assert client.post(REAUTH, {"password": "wrong"}, format="json").status_code == 400
    assert client.get(AUTHENTICATORS).json()["data"] == []


def test_activating_totp_needs_a_correct_code(db, app_user):
    client = signed_in_client(app_user.email)
    secret = client.get(TOTP).json()["meta"]["secret"]
    client.post(REAUTH, {"password": USER_PASSWORD}, format="json")
    code = current_code(secret)
    refused = client.post(TOTP, {"code": wrong_code(code)}, format="json")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "incorrect_code"
    assert client.post(TOTP, {"code": code}, format="json").status_code == 200
    types = {a["type"] for a in client.get(AUTHENTICATORS).json()["data"]}
    assert types == {"totp", "recovery_codes"}  # recovery codes come with it


def test_account_authenticators_need_a_signed_in_user(db, app_user, key_client):
    assert APIClient().get(AUTHENTICATORS).status_code == 401
    assert APIClient().get(TOTP).status_code == 401
    assert key_client("records:read", "schema").get(AUTHENTICATORS).status_code == 401
    assert client_with("not-a-token").get(AUTHENTICATORS).status_code == 401


# --- sign-in -------------------------------------------------------------------------
def test_login_with_totp_needs_the_second_factor_before_any_token(db, totp_user):
    user, secret, _ = totp_user
    response = sign_in(user.email)
    assert response.status_code == 401
    flow = next(
        f for f in response.json()["data"]["flows"] if f["id"] == "mfa_authenticate"
    )
    assert flow["is_pending"] is True and "totp" in flow["types"]
    assert set(response.json()["meta"]) == {"is_authenticated", "session_token"}
    done = second_factor(response.json()["meta"]["session_token"], totp_code(secret))
    assert done.status_code == 200, done.content
    meta = done.json()["meta"]
    assert meta["refresh_token"]
    assert client_with(meta["access_token"]).get(ME).status_code == 200
    methods = [m["method"] for m in done.json()["data"]["methods"]]
    assert methods == ["password", "mfa"]


def test_a_wrong_code_is_refused_and_the_right_one_still_works(db, totp_user):
    user, secret, _ = totp_user
    session_token = pending_session_token(user.email)
    code = current_code(secret)
    refused = second_factor(session_token, wrong_code(code))
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "incorrect_code"
    assert "meta" not in refused.json() or "access_token" not in refused.json()["meta"]
    assert second_factor(session_token, code).status_code == 200


def test_a_used_code_cannot_be_used_again(db, totp_user):
    user, secret, _ = totp_user
    code = current_code(secret)
    assert second_factor(pending_session_token(user.email), code).status_code == 200
    replay = second_factor(pending_session_token(user.email), code)
    assert replay.status_code == 400
    assert replay.json()["errors"][0]["code"] == "incorrect_code"


def test_guessing_codes_is_limited_per_account(db, totp_user):
    """allauth counts wrong codes as failed logins (5 per 5 minutes per account): a
    million TOTP codes cannot be tried, and after the limit even the right one waits."""
    user, secret, _ = totp_user
    code = current_code(secret)
    for _ in range(5):
        session_token = pending_session_token(user.email)
        assert second_factor(session_token, wrong_code(code)).status_code == 400
    limited = second_factor(pending_session_token(user.email), code)
    assert limited.status_code in (400, 429), limited.content
    assert limited.json()["errors"][0]["code"] in (
        "too_many_login_attempts",
        "rate_limited",
    )
    assert "access_token" not in limited.json().get("meta", {})


def test_a_wrong_password_never_reaches_the_second_factor(db, totp_user):
    user, _, client = totp_user
    response = sign_in(user.email, "wrong-password")
    assert response.status_code == 400
    assert "session_token" not in response.json().get("meta", {})


def test_the_second_factor_step_needs_the_pending_login(db, totp_user):
    _, secret, _ = totp_user
    code = totp_code(secret)
    no_token = APIClient().post(TWO_FA, {"code": code}, format="json")
    assert no_token.status_code == 401
    assert "access_token" not in no_token.json().get("meta", {})
    assert second_factor("made-up-session-token", code).status_code == 410


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": None}, {"code": ["1"]}, {"code": "x" * 5000}]
)
def test_malformed_codes_are_a_client_error(db, totp_user, body):
    user, _, client = totp_user
    response = APIClient().post(
        TWO_FA,
        body,
        format="json",
        HTTP_X_SESSION_TOKEN=pending_session_token(user.email),
    )
    assert response.status_code == 400
    assert response.json()["errors"]


# --- recovery codes ------------------------------------------------------------------
def test_recovery_codes_are_listed_for_their_owner_only(db, totp_user, make_user):
    user, _, client = totp_user
    codes = recovery_codes(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    other = make_user("other@example.com")
    assert signed_in_client(other.email).get(RECOVERY_CODES).status_code == 404
    assert APIClient().get(RECOVERY_CODES).status_code == 401


def test_a_recovery_code_signs_in_once(db, totp_user):
    user, _, client = totp_user
    code = recovery_codes(client)[0]
    done = second_factor(pending_session_token(user.email), code)
    assert done.status_code == 200, done.content
    assert client_with(done.json()["meta"]["access_token"]).get(ME).status_code == 200
    client = client_with(done.json()["meta"]["access_token"])
    client.post(REAUTH, {"password": USER_PASSWORD}, format="json")
    data = client.get(RECOVERY_CODES).json()["data"]
    assert data["unused_code_count"] == 9 and code not in data["unused_codes"]
    assert second_factor(pending_session_token(user.email), code).status_code == 400


def test_regenerated_recovery_codes_replace_the_old_ones(db, totp_user):
    user, _, client = totp_user
    old = recovery_codes(client)
    response = client.post(RECOVERY_CODES, {}, format="json")
    assert response.status_code == 200, response.content
    new = response.json()["data"]["unused_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert second_factor(pending_session_token(user.email), old[0]).status_code == 400
    assert second_factor(pending_session_token(user.email), new[0]).status_code == 200


# --- turning it off ------------------------------------------------------------------
def test_deactivating_totp_needs_a_fresh_second_factor(db, totp_user):
    user, secret, _ = totp_user
    done = second_factor(pending_session_token(user.email), current_code(secret))
    client = client_with(done.json()["meta"]["access_token"])
    spare = recovery_codes_of(user)[0]

    response = client.delete(TOTP)
    assert response.status_code == 401  # signing in is not a re-authentication
    flows = {f["id"] for f in response.json()["data"]["flows"]}
    assert {"reauthenticate", "mfa_reauthenticate"} <= flows
    assert (
        client.post(TWO_FA_REAUTH, {"code": "00000000"}, format="json").status_code
        == 400
    )
    assert client.get(TOTP).status_code == 200  # still on

    reauth = client.post(TWO_FA_REAUTH, {"code": spare}, format="json")
    assert reauth.status_code == 200, reauth.content
    assert client.delete(TOTP).status_code == 200
    assert client.get(AUTHENTICATORS).json()["data"] == []
    # Signing in is back to the password alone.
    assert sign_in(user.email).status_code == 200


def test_another_user_cannot_deactivate_my_totp(db, totp_user, make_user):
    user, _, client = totp_user
    other = signed_in_client(make_user("other@example.com").email)
    other.post(REAUTH, {"password": USER_PASSWORD}, format="json")
    assert other.delete(TOTP).status_code == 200  # their own (absent) authenticator
    assert sign_in(user.email).status_code == 401  # mine is still required
    assert APIClient().delete(TOTP).status_code == 401


def recovery_codes_of(user) -> list[str]:
    """Read from the database (the test's view, not an endpoint): a spare code."""
    from allauth.mfa.models import Authenticator

    authenticator = Authenticator.objects.get(
        user=user, type=Authenticator.Type.RECOVERY_CODES
    )
    return authenticator.wrap().get_unused_codes()
