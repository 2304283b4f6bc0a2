"""The Python SDK's auth flows (sdk/python, `client.auth`) against a live server over HTTP.

Mail goes to Django's in-memory outbox (pytest-django's test backend; the live server runs
in this process), where the codes are read as the user would read them.
"""

from __future__ import annotations

import base64
import hmac
import re
import struct
import sys
import time
from pathlib import Path

import pytest
from django.core import mail

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import AuthResult, BaasError, Client  # noqa: E402

from tests.conftest import USER_PASSWORD  # noqa: E402

PASSWORD = "A-long-pass-phrase-1"
NEW_PASSWORD = "Another-long-phrase-2"
TOTP_PERIOD = 30


@pytest.fixture
def connect(server_url):
    """connect(**options) -> a Client for the live server, closed after the test."""
    clients: list[Client] = []

    def make(**options) -> Client:
        client = Client(server_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def user(schema_db, make_user):
    """An app user with a verified address (made directly, not through sign-up)."""
    return make_user("sdk.user@example.com", USER_PASSWORD)


def last_code(to: str) -> str:
    """The code in the newest mail to `to` (allauth's codes look like ABCD-EFGH)."""
    mails = [m for m in mail.outbox if to in m.to]
    assert mails, f"no mail to {to}"
    match = re.search(
        r"^([A-Z0-9]{4}-?[A-Z0-9]{4}|[A-Z0-9]{6})$", mails[-1].body, re.MULTILINE
    )
    assert match, mails[-1].body
    return match.group(1)


def mails_to(to: str) -> int:
    return sum(1 for m in mail.outbox if to in m.to)


def signed_in_as(client: Client, email: str) -> None:
    """The stored access token works on an authenticated endpoint, for this user."""
    assert [e["email"] for e in client.auth.list_emails()] == [email]


def refused(client: Client) -> None:
    """The client's device session has ended: allauth's endpoints answer 410
    `session_ended`, the records API 401; either way the tokens are cleared."""
    tokens = (client.auth.access_token, client.auth.refresh_token)
    with pytest.raises(BaasError) as caught:
        client.auth.list_emails()
    assert (caught.value.status, caught.value.code) == (410, "session_ended"), (
        caught.value.body
    )
    assert (client.auth.access_token, client.auth.refresh_token) == (None, None)

    client.auth.set_tokens(*tokens)
    with pytest.raises(BaasError) as caught:
        client.collection("users").list()
    assert caught.value.status == 401
    assert (client.auth.access_token, client.auth.refresh_token) == (None, None)


def totp_code(secret: str) -> str:
    """RFC 6238 as an authenticator app computes it, for the current 30-second window
    (waiting for the next one when this one is about to end: the server takes only it)."""
    if TOTP_PERIOD - time.time() % TOTP_PERIOD < 3:
        time.sleep(TOTP_PERIOD - time.time() % TOTP_PERIOD + 0.1)
    counter = int(time.time() // TOTP_PERIOD)
    digest = hmac.new(
        base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), "sha1"
    ).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**6:06d}"


@pytest.fixture
def totp_user(user):
    """`user` with an authenticator app (TOTP) set up; returns its secret."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# --- sign-up and email verification ---------------------------------------------------


def test_signup_is_pending_verification_and_the_mailed_code_signs_in(connect):
    tokens = []
    client = connect(on_tokens=lambda a, r: tokens.append((a, r)))
    result = client.auth.signup("new@example.com", PASSWORD)

    assert isinstance(result, AuthResult)
    assert (result.signed_in, result.user, result.pending) == (
        False,
        None,
        "verify_email",
    )
    assert result == AuthResult(None, "verify_email", result.flows, False)
    assert client.auth.pending == "verify_email" and client.auth.session_token
    assert client.auth.access_token is None and tokens == []

    done = client.auth.verify_email(last_code("new@example.com"))
    assert done.signed_in and done.user["email"] == "new@example.com"
    assert (client.auth.pending, client.auth.session_token) == (None, None)
    assert tokens == [(client.auth.access_token, client.auth.refresh_token)]
    signed_in_as(client, "new@example.com")


def test_a_wrong_verification_code_is_a_400_on_key_and_the_flow_stays_open(connect):
    client = connect()
    client.auth.signup("new@example.com", PASSWORD)
    with pytest.raises(BaasError) as caught:
        client.auth.verify_email("WRONG-CODE")
    assert (caught.value.status, caught.value.param) == (400, "key")
    assert client.auth.pending == "verify_email"
    assert client.auth.verify_email(last_code("new@example.com")).signed_in


def test_resend_verification_mails_a_new_code_for_the_pending_signup(connect):
    from django.core.cache import cache

    client = connect()
    client.auth.signup("new@example.com", PASSWORD)
    with pytest.raises(BaasError) as too_soon:  # one mail per address per 3 minutes
        client.auth.resend_verification()
    assert (too_soon.value.status, too_soon.value.code) == (429, "rate_limited")

    cache.clear()  # as if the 3 minutes had passed
    before = mails_to("new@example.com")
    assert client.auth.resend_verification() is None
    assert mails_to("new@example.com") == before + 1
    assert client.auth.verify_email(last_code("new@example.com")).signed_in


def test_completing_a_flow_that_was_never_started_says_so_without_a_request(connect):
    client = connect()
    with pytest.raises(BaasError) as caught:
        client.auth.resend_verification()
    assert (caught.value.status, caught.value.code) == (0, "no_pending_flow")


def test_signup_with_a_taken_address_does_not_reveal_it(connect, user):
    result = connect().auth.signup(user.email, PASSWORD)
    assert result.pending == "verify_email"  # the same answer as for a new address


# --- login, second factor, login by code ------------------------------------------------


def test_login_signs_in_and_returns_the_user(connect, user):
    result = connect().auth.login(user.email, USER_PASSWORD)
    assert result.signed_in and result.pending is None
    assert result.user["email"] == user.email


def test_login_with_totp_is_pending_until_the_second_factor(connect, user, totp_user):
    client = connect()
    result = client.auth.login(user.email, USER_PASSWORD)
    assert (result.signed_in, result.pending) == (False, "mfa_authenticate")
    flow = next(f for f in result.flows if f["id"] == "mfa_authenticate")
    assert "totp" in flow["types"]
    assert client.auth.access_token is None

    with pytest.raises(BaasError) as caught:
        client.auth.mfa_authenticate(
            "000000" if totp_code(totp_user) != "000000" else "1"
        )
    assert caught.value.status == 400 and caught.value.param == "code"

    done = client.auth.mfa_authenticate(totp_code(totp_user))
    assert done.signed_in and done.user["email"] == user.email
    signed_in_as(client, user.email)


def test_a_login_code_mailed_to_the_address_signs_in(connect, user):
    client = connect()
    result = client.auth.request_login_code(user.email)
    assert result.pending == "login_by_code" and client.auth.session_token
    done = client.auth.confirm_login_code(last_code(user.email))
    assert done.signed_in
    signed_in_as(client, user.email)


def test_a_wrong_login_code_is_a_400(connect, user):
    client = connect()
    client.auth.request_login_code(user.email)
    with pytest.raises(BaasError) as caught:
        client.auth.confirm_login_code("NOPE-NOPE")
    assert caught.value.status == 400
    assert client.auth.access_token is None


# --- password reset and change ------------------------------------------------------------


def test_password_reset_by_code_sets_a_new_password_and_ends_every_session(
    connect, user
):
    elsewhere = connect()
    elsewhere.auth.login(user.email, USER_PASSWORD)

    client = connect()
    result = client.auth.request_password_reset(user.email)
    assert result.pending == "password_reset_by_code"
    code = last_code(user.email)
    assert client.auth.check_password_reset_code(code)["email"] == user.email

    done = client.auth.reset_password(code, NEW_PASSWORD)
    assert (done.signed_in, done.pending) == (False, None)
    assert client.auth.session_token is None

    refused(elsewhere)
    with pytest.raises(BaasError):
        connect().auth.login(user.email, USER_PASSWORD)
    assert connect().auth.login(user.email, NEW_PASSWORD).signed_in


def test_a_wrong_reset_code_is_a_400_on_key(connect, user):
    client = connect()
    client.auth.request_password_reset(user.email)
    with pytest.raises(BaasError) as caught:
        client.auth.reset_password("NOPE-NOPE", NEW_PASSWORD)
    assert (caught.value.status, caught.value.param) == (400, "key")


def test_change_password_keeps_this_device_and_signs_out_the_others(connect, user):
    elsewhere = connect()
    elsewhere.auth.login(user.email, USER_PASSWORD)
    tokens = []
    client = connect(on_tokens=lambda a, r: tokens.append((a, r)))
    client.auth.login(user.email, USER_PASSWORD)
    old_access = client.auth.access_token

    client.auth.change_password(USER_PASSWORD, NEW_PASSWORD)
    assert client.auth.access_token != old_access
    assert tokens[-1] == (client.auth.access_token, client.auth.refresh_token)
    signed_in_as(client, user.email)
    refused(elsewhere)
    assert connect().auth.login(user.email, NEW_PASSWORD).signed_in


def test_change_password_with_a_wrong_current_password_is_a_400(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    with pytest.raises(BaasError) as caught:
        client.auth.change_password("not the password", NEW_PASSWORD)
    assert (caught.value.status, caught.value.param) == (400, "current_password")
    signed_in_as(client, user.email)


# --- email address --------------------------------------------------------------------------


def test_change_email_is_confirmed_by_the_code_mailed_to_the_new_address(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    emails = client.auth.change_email("moved@example.com")
    assert {e["email"] for e in emails} >= {user.email}

    result = client.auth.verify_email(last_code("moved@example.com"))
    assert result.signed_in
    addresses = client.auth.list_emails()
    assert [(e["email"], e["verified"], e["primary"]) for e in addresses] == [
        ("moved@example.com", True, True)
    ]


# --- sessions, logout, reauthentication -----------------------------------------------------


def test_sessions_lists_each_device_and_ending_one_signs_it_out(connect, user):
    other = connect()
    other.auth.login(user.email, USER_PASSWORD)
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)

    sessions = client.auth.sessions()
    assert len(sessions) == 2
    assert [s["is_current"] for s in sessions].count(True) == 1
    theirs = next(s["id"] for s in sessions if not s["is_current"])

    remaining = client.auth.end_sessions([theirs])
    assert [s["is_current"] for s in remaining] == [True]
    refused(other)
    signed_in_as(client, user.email)


def test_logout_ends_the_session_on_the_server_and_clears_the_tokens(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    refresh = client.auth.refresh_token
    client.auth.logout()
    assert (client.auth.access_token, client.auth.refresh_token) == (None, None)

    stale = connect(refresh_token=refresh)
    with pytest.raises(BaasError) as caught:
        stale.auth.refresh()
    assert caught.value.status == 401


def test_logout_with_an_expired_access_token_still_ends_the_session(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    refresh = client.auth.refresh_token
    client.auth.set_tokens("not-a-jwt", refresh)
    client.auth.logout()
    assert client.auth.refresh_token is None
    # The logout refreshed first (spending `refresh`), then ended the session: the
    # token it got is dead too, so a replay of `refresh` finds nothing to revoke.
    with pytest.raises(BaasError) as caught:
        connect(refresh_token=refresh).auth.refresh()
    assert caught.value.status == 401


def test_reauthenticate_confirms_the_password_of_the_signed_in_user(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    assert client.auth.reauthenticate(USER_PASSWORD).signed_in
    with pytest.raises(BaasError) as caught:
        client.auth.reauthenticate("not the password")
    assert caught.value.status == 400
    signed_in_as(client, user.email)


def test_account_calls_without_a_sign_in_are_refused(connect, user):
    anonymous = connect()
    with pytest.raises(BaasError) as caught:  # no user, no verification pending
        anonymous.auth.change_email("x@example.com")
    assert caught.value.status == 409
    for call in (
        anonymous.auth.list_emails,
        anonymous.auth.sessions,
        lambda: anonymous.auth.end_sessions([1]),
        lambda: anonymous.auth.change_password(USER_PASSWORD, NEW_PASSWORD),
        lambda: anonymous.auth.reauthenticate(USER_PASSWORD),
    ):
        with pytest.raises(BaasError) as caught:
            call()
        assert caught.value.status == 401


# --- social sign-in ---------------------------------------------------------------------------


def test_an_id_token_for_a_provider_that_is_not_configured_is_a_400(connect):
    client = connect()
    with pytest.raises(BaasError) as caught:
        client.auth.sign_in_with_id_token("google", "not-a-token", "client-id")
    assert caught.value.status == 400
    assert caught.value.param == "token"
    assert client.auth.access_token is None


# --- guests and the account's own data (endpoints: POST /auth/guest, ...) --------------------


def test_a_guest_signs_in_and_upgrades_with_an_email_and_password(connect):
    client = connect()
    result = client.auth.guest()
    assert result.signed_in and client.auth.access_token
    guest_id = result.user["id"]
    guest_access = client.auth.access_token

    upgraded = client.auth.upgrade_guest("upgraded@example.com", PASSWORD)
    # Still signed in as the guest while the new address awaits its code.
    assert (upgraded.signed_in, upgraded.pending) == (True, "verify_email")
    assert client.auth.access_token == guest_access
    assert client.auth.session_token is None

    done = client.auth.verify_email(last_code("upgraded@example.com"))
    assert done.signed_in and done.pending is None
    assert client.auth.list_emails()[0]["email"] == "upgraded@example.com"
    again = connect().auth.login("upgraded@example.com", PASSWORD)
    assert again.user["id"] == guest_id


def test_only_a_guest_can_be_upgraded(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    with pytest.raises(BaasError) as caught:
        client.auth.upgrade_guest("other@example.com", PASSWORD)
    assert caught.value.status == 403
    with pytest.raises(BaasError) as caught:
        connect().auth.upgrade_guest("other@example.com", PASSWORD)
    assert caught.value.status == 401


def test_export_account_returns_the_users_own_data(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    exported = client.auth.export_account()
    assert user.email in str(exported)
    with pytest.raises(BaasError) as caught:
        connect().auth.export_account()
    assert caught.value.status == 401


def test_delete_account_may_ask_for_the_password_then_deletes(connect, user):
    client = connect()
    client.auth.login(user.email, USER_PASSWORD)
    try:
        client.auth.delete_account()
    except BaasError as exc:
        assert (exc.status, exc.code) == (401, "reauthentication_required")
        assert client.auth.access_token  # a reauthentication answer keeps the tokens
        client.auth.reauthenticate(USER_PASSWORD)
        client.auth.delete_account()
    assert (client.auth.access_token, client.auth.refresh_token) == (None, None)
    with pytest.raises(BaasError) as caught:
        connect().auth.login(user.email, USER_PASSWORD)
    assert caught.value.status == 400
