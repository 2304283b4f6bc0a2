"""Passkeys (WebAuthn) over HTTP for the `app` client, with a software authenticator:
as a second factor after the password, and as a passwordless sign-in. Every forged or
replayed assertion is a 4xx without tokens, never a 500."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from rest_framework.test import APIClient

from tests.accounts.test_mfa import AUTHENTICATORS, REAUTH, sign_in
from tests.accounts.webauthn_authenticator import SoftwareAuthenticator, b64url
from tests.conftest import USER_PASSWORD, client_with

ME = "/api/v1/collections/users/records"
WEBAUTHN = "/api/v1/account/authenticators/webauthn"
AUTHENTICATE = "/api/v1/auth/webauthn/authenticate"
PASSKEY_LOGIN = "/api/v1/auth/webauthn/login"
EVIL = "https://evil.example"


def signed_in_client(email: str) -> APIClient:
    response = sign_in(email)
    assert response.status_code == 200, response.content
    client = client_with(response.json()["meta"]["access_token"])
    assert client.post(REAUTH, {"password": USER_PASSWORD}, format="json").status_code
    return client


def add_passkey(
    client: APIClient, device: SoftwareAuthenticator, passwordless=False, **forge
):
    """The "add a passkey" screen: creation options, the OS ceremony, the result."""
    options = client.get(WEBAUTHN + ("?passwordless" if passwordless else ""))
    assert options.status_code == 200, options.content
    creation_options = options.json()["data"]["creation_options"]
    credential = device.create(creation_options, resident_key=passwordless, **forge)
    body = {"name": "Phone", "credential": credential}
    if passwordless:
        body["passwordless"] = True
    return client.post(WEBAUTHN, body, format="json")


@pytest.fixture
def device() -> SoftwareAuthenticator:
    return SoftwareAuthenticator()


@pytest.fixture
def passkey_user(app_user, device):
    """An app user with a passkey that can also sign in alone (passwordless)."""
    response = add_passkey(signed_in_client(app_user.email), device, passwordless=True)
    assert response.status_code == 200, response.content
    return app_user


def pending_login(email: str) -> tuple[str, dict]:
    """Password accepted, second factor pending: the session token and the options."""
    response = sign_in(email)
    assert response.status_code == 401, response.content
    flow = next(
        f for f in response.json()["data"]["flows"] if f["id"] == "mfa_authenticate"
    )
    assert "webauthn" in flow["types"]
    session_token = response.json()["meta"]["session_token"]
    options = APIClient().get(AUTHENTICATE, HTTP_X_SESSION_TOKEN=session_token)
    assert options.status_code == 200, options.content
    return session_token, options.json()["data"]["request_options"]


def finish_second_factor(session_token: str, credential):
    return APIClient().post(
        AUTHENTICATE,
        {"credential": credential},
        format="json",
        HTTP_X_SESSION_TOKEN=session_token,
    )


def passkey_login_options() -> tuple[str, dict]:
    response = APIClient().get(PASSKEY_LOGIN)
    assert response.status_code == 200, response.content
    return response.json()["meta"]["session_token"], response.json()["data"][
        "request_options"
    ]


def passkey_login(session_token: str, credential):
    return APIClient().post(
        PASSKEY_LOGIN,
        {"credential": credential},
        format="json",
        HTTP_X_SESSION_TOKEN=session_token,
    )


def assert_refused(response) -> None:
    assert 400 <= response.status_code < 500, response.content
    assert "access_token" not in response.json().get("meta", {})


# --- adding a passkey ----------------------------------------------------------------
def test_creation_options_name_the_rp_the_user_and_a_fresh_challenge(db, app_user):
    client = signed_in_client(app_user.email)
    first = client.get(WEBAUTHN).json()["data"]["creation_options"]["publicKey"]
    second = client.get(WEBAUTHN).json()["data"]["creation_options"]["publicKey"]
    assert first["rp"]["id"] == "testserver"  # the request's host, by default
    assert first["user"]["name"] == app_user.email
    assert first["challenge"] != second["challenge"]
    assert {"type": "public-key", "alg": -7} in first["pubKeyCredParams"]


def test_a_passkey_is_added_as_a_second_factor(db, app_user, device):
    client = signed_in_client(app_user.email)
    response = add_passkey(client, device)
    assert response.status_code == 200, response.content
    assert response.json()["data"]["name"] == "Phone"
    assert response.json()["meta"]["recovery_codes_generated"] is True
    types = {a["type"] for a in client.get(AUTHENTICATORS).json()["data"]}
    assert types == {"webauthn", "recovery_codes"}


@pytest.mark.parametrize(
    "forge",
    [
        {"origin": EVIL},
        {"rp_id": "evil.example"},
        {"challenge": b64url(b"a challenge the server never issued")},
    ],
    ids=["wrong origin", "wrong rp id", "wrong challenge"],
)
def test_a_forged_registration_is_refused(db, app_user, device, forge):
    client = signed_in_client(app_user.email)
    response = add_passkey(client, device, **forge)
    assert response.status_code == 400, response.content
    assert client.get(AUTHENTICATORS).json()["data"] == []


def test_a_passwordless_passkey_needs_user_verification(db, app_user, device):
    client = signed_in_client(app_user.email)
    response = add_passkey(client, device, passwordless=True, user_verified=False)
    assert response.status_code == 400
    assert client.get(AUTHENTICATORS).json()["data"] == []


def test_adding_a_passkey_needs_a_signed_in_recently_confirmed_user(db, app_user):
    assert APIClient().get(WEBAUTHN).status_code == 401
    assert APIClient().post(WEBAUTHN, {}, format="json").status_code == 401
    response = sign_in(app_user.email)
    fresh = client_with(response.json()["meta"]["access_token"])
    reauth = fresh.get(WEBAUTHN)
    assert reauth.status_code == 401  # confirm the password first
    assert {"id": "reauthenticate"} in reauth.json()["data"]["flows"]


# --- second factor -------------------------------------------------------------------
def test_login_with_a_passkey_as_second_factor(db, passkey_user, device):
    session_token, options = pending_login(passkey_user.email)
    assert options["publicKey"]["rpId"] == "testserver"
    allowed = [c["id"] for c in options["publicKey"]["allowCredentials"]]
    assert allowed == [b64url(device.credential_id)]
    done = finish_second_factor(session_token, device.get(options))
    assert done.status_code == 200, done.content
    assert client_with(done.json()["meta"]["access_token"]).get(ME).status_code == 200
    assert done.json()["data"]["methods"][-1]["type"] == "webauthn"


@pytest.mark.parametrize(
    "forge",
    [
        {"signing_key": ec.generate_private_key(ec.SECP256R1())},
        {"origin": EVIL},
        {"rp_id": "evil.example"},
        {"challenge": b64url(b"a challenge the server never issued")},
    ],
    ids=["wrong signature", "wrong origin", "wrong rp id", "wrong challenge"],
)
def test_a_forged_assertion_is_refused_as_second_factor(
    db, passkey_user, device, forge
):
    session_token, options = pending_login(passkey_user.email)
    assert_refused(finish_second_factor(session_token, device.get(options, **forge)))
    # The genuine assertion still completes this sign-in afterwards.
    session_token, options = pending_login(passkey_user.email)
    assert finish_second_factor(session_token, device.get(options)).status_code == 200


def test_a_used_assertion_cannot_be_replayed(db, passkey_user, device):
    session_token, options = pending_login(passkey_user.email)
    assertion = device.get(options)
    assert finish_second_factor(session_token, assertion).status_code == 200
    # The same assertion on the same (now signed-in) session and on a new sign-in.
    assert_refused(finish_second_factor(session_token, assertion))
    fresh_token, _ = pending_login(passkey_user.email)
    assert_refused(finish_second_factor(fresh_token, assertion))


def test_another_users_passkey_is_no_second_factor_for_me(
    db, passkey_user, device, make_user
):
    other = make_user("other@example.com")
    their_device = SoftwareAuthenticator()
    add_passkey(signed_in_client(other.email), their_device)
    session_token, options = pending_login(passkey_user.email)
    assert_refused(finish_second_factor(session_token, their_device.get(options)))


# --- passwordless sign-in ------------------------------------------------------------
def test_passwordless_login_with_a_passkey(db, passkey_user, device):
    session_token, options = passkey_login_options()
    assert options["publicKey"]["userVerification"] == "required"
    done = passkey_login(session_token, device.get(options))
    assert done.status_code == 200, done.content
    meta = done.json()["meta"]
    assert meta["refresh_token"]
    assert client_with(meta["access_token"]).get(ME).status_code == 200
    assert done.json()["data"]["user"]["email"] == passkey_user.email


@pytest.mark.parametrize(
    "forge",
    [
        {"signing_key": ec.generate_private_key(ec.SECP256R1())},
        {"origin": EVIL},
        {"origin": "android:apk-key-hash:not-configured"},
        {"rp_id": "evil.example"},
        {"challenge": b64url(b"a challenge the server never issued")},
        {"user_verified": False},
    ],
    ids=[
        "wrong signature",
        "wrong origin",
        "unlisted app origin",
        "wrong rp id",
        "wrong challenge",
        "no user verification",
    ],
)
def test_a_forged_passwordless_login_is_refused(db, passkey_user, device, forge):
    session_token, options = passkey_login_options()
    assert_refused(passkey_login(session_token, device.get(options, **forge)))


def test_a_passwordless_assertion_cannot_be_replayed(db, passkey_user, device):
    session_token, options = passkey_login_options()
    assertion = device.get(options)
    assert passkey_login(session_token, assertion).status_code == 200
    assert_refused(passkey_login(session_token, assertion))
    fresh_token, _ = passkey_login_options()
    assert_refused(passkey_login(fresh_token, assertion))
    assert_refused(passkey_login("made-up-session-token", assertion))


def test_a_passkey_cannot_claim_another_user(db, passkey_user, device, make_user):
    other = make_user("other@example.com")
    session_token, options = passkey_login_options()
    claim = device.get(options, user_handle=other.pk.encode())
    assert_refused(passkey_login(session_token, claim))


def test_an_unregistered_passkey_signs_nobody_in(db, passkey_user):
    stranger = SoftwareAuthenticator()
    stranger.user_handle = passkey_user.pk.encode()
    stranger.rp_id = "testserver"
    session_token, options = passkey_login_options()
    assert_refused(passkey_login(session_token, stranger.get(options)))


def _malformed_credentials(good: dict) -> list:
    bad_signature = copy.deepcopy(good)
    bad_signature["response"]["signature"] = "!!not base64!!"
    bad_client_data = copy.deepcopy(good)
    bad_client_data["response"]["clientDataJSON"] = b64url(b"{not json")
    bad_auth_data = copy.deepcopy(good)
    bad_auth_data["response"]["authenticatorData"] = b64url(b"short")
    no_response = {k: v for k, v in good.items() if k != "response"}
    wrong_types = copy.deepcopy(good)
    wrong_types["response"]["userHandle"] = 12
    return [
        None,
        "a string",
        [],
        {},
        no_response,
        bad_signature,
        bad_client_data,
        bad_auth_data,
        wrong_types,
        {**good, "rawId": 5},
    ]


def test_malformed_credentials_are_a_client_error(db, passkey_user, device):
    _, options = passkey_login_options()
    for credential in _malformed_credentials(device.get(options)):
        session_token, _ = passkey_login_options()
        response = passkey_login(session_token, credential)
        assert 400 <= response.status_code < 500, (credential, response.content)
        session_token, _ = pending_login(passkey_user.email)
        response = finish_second_factor(session_token, credential)
        assert 400 <= response.status_code < 500, (credential, response.content)


def test_malformed_registrations_are_a_client_error(db, app_user, device):
    client = signed_in_client(app_user.email)
    creation_options = client.get(WEBAUTHN).json()["data"]["creation_options"]
    good = device.create(creation_options)
    broken = copy.deepcopy(good)
    broken["response"]["attestationObject"] = b64url(b"\xa1garbage")
    # (false and 0 once skipped allauth's check and stored a broken authenticator)
    for credential in [None, "x", {}, False, 0, True, broken, {**good, "response": {}}]:
        client.get(WEBAUTHN)
        response = client.post(
            WEBAUTHN, {"name": "x", "credential": credential}, format="json"
        )
        assert 400 <= response.status_code < 500, (credential, response.content)
    assert client.get(AUTHENTICATORS).json()["data"] == []


# --- production settings: RP id and origins ------------------------------------------
def test_configured_rp_id_and_app_origins_are_used(db, app_user, settings):
    """As in production: passkeys bound to the app's associated domain, genuine origins
    are https there and the configured Android app origin; plain http is refused."""
    settings.BAAS_WEBAUTHN_RP_ID = "example.com"
    settings.BAAS_WEBAUTHN_ORIGINS = ["android:apk-key-hash:c2lnbmluZy1jZXJ0"]
    settings.MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
    device = SoftwareAuthenticator(origin="https://example.com")
    client = signed_in_client(app_user.email)
    refused = add_passkey(client, device, passwordless=True, origin="http://testserver")
    assert refused.status_code == 400
    assert add_passkey(client, device, passwordless=True).status_code == 200
    assert device.rp_id == "example.com"

    for origin in ["https://example.com", "android:apk-key-hash:c2lnbmluZy1jZXJ0"]:
        session_token, options = passkey_login_options()
        assert options["publicKey"]["rpId"] == "example.com"
        done = passkey_login(session_token, device.get(options, origin=origin))
        assert done.status_code == 200, (origin, done.content)
    for origin in ["http://example.com", "http://testserver", "https://example.org"]:
        session_token, options = passkey_login_options()
        assert_refused(passkey_login(session_token, device.get(options, origin=origin)))
