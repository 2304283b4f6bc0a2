"""Social login over HTTP against a real OpenID Connect provider on localhost
(tests/accounts/fake_oidc.py): the native provider-token flow, the web redirect flow,
connecting and removing providers, and account pre-hijacking."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.core import mail
from django.core.cache import cache
from rest_framework.test import APIClient

from baas.config import social_providers_from_env
from tests.accounts.fake_oidc import FakeOIDCProvider, Identity, new_rsa_key
from tests.conftest import USER_PASSWORD, client_with

TOKEN = "/api/v1/auth/provider/token"
PROVIDERS = "/api/v1/account/providers"
ME = "/api/v1/collections/users/records"
WEB, IOS = "baas-web", "baas-ios"
VICTIM = "victim@example.com"


@pytest.fixture
def idp():
    with FakeOIDCProvider(clients={WEB: "web-secret", IOS: "ios-secret"}) as provider:
        yield provider


@pytest.fixture
def oidc(idp, monkeypatch, settings):
    """The fake provider configured the way an operator would: BAAS_OIDC_PROVIDERS."""
    entry = {
        "id": "fake",
        "name": "Fake IdP",
        "server_url": idp.url,
        "client_id": WEB,
        "client_ids": [IOS],
        "secret": "web-secret",
    }
    monkeypatch.setenv("BAAS_OIDC_PROVIDERS", json.dumps([entry]))
    settings.SOCIALACCOUNT_PROVIDERS = social_providers_from_env()
    return idp


def provider_token(
    id_token, *, provider="fake", client_id=WEB, process="login", client=None
):
    token = {"client_id": client_id, "id_token": id_token}
    return (client or APIClient()).post(
        TOKEN, {"provider": provider, "process": process, "token": token}, format="json"
    )


def alice(**kwargs) -> Identity:
    return Identity(sub="alice-sub", email="alice@example.com", **kwargs)


def user_of(response):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["meta"]["access_token"] and body["meta"]["refresh_token"]
    return body["data"]["user"]


def works(access_token: str) -> bool:
    return client_with(access_token).get(ME).status_code == 200


# --- provider-token flow (native apps) ---------------------------------------------------
def test_a_valid_id_token_signs_up_a_new_user_with_a_verified_email(db, oidc):
    response = provider_token(oidc.id_token(alice(), WEB))
    user = user_of(response)
    assert user["email"] == "alice@example.com"
    assert EmailAddress.objects.get(email="alice@example.com").verified
    account = SocialAccount.objects.get(provider="fake")
    assert account.uid == "alice-sub" and str(account.user_id) == str(user["id"])
    assert works(response.json()["meta"]["access_token"])


def test_signing_in_again_gives_the_same_user(db, oidc):
    first = user_of(provider_token(oidc.id_token(alice(), WEB)))
    second = user_of(provider_token(oidc.id_token(alice(), WEB)))
    assert first["id"] == second["id"]
    assert SocialAccount.objects.count() == 1


def test_an_id_token_for_any_of_the_apps_client_ids_is_accepted(db, oidc):
    web = user_of(provider_token(oidc.id_token(alice(), WEB), client_id=WEB))
    ios = user_of(provider_token(oidc.id_token(alice(), IOS), client_id=IOS))
    assert web["id"] == ios["id"]


def test_the_client_id_sent_must_be_the_tokens_audience(db, oidc):
    response = provider_token(oidc.id_token(alice(), IOS), client_id=WEB)
    assert response.status_code == 400


def forged_tokens(idp: FakeOIDCProvider) -> dict[str, str]:
    who = alice()
    now = int(time.time())
    return {
        "bad signature": idp.id_token(who, WEB, key=new_rsa_key()),
        "wrong audience": idp.id_token(who, "someone-elses-app"),
        "expired": idp.id_token(who, WEB, iat=now - 7200, exp=now - 3600),
        "wrong issuer": idp.id_token(who, WEB, iss="https://evil.example.com"),
        "alg none": idp.id_token(who, WEB, alg="none"),
        "HS256 with the public key": idp.id_token(who, WEB, alg="HS256", key=b"k" * 32),
        "unknown kid": idp.id_token(who, WEB, kid="nope"),
        "no kid": idp.id_token(who, WEB, kid=""),
        "no sub": idp.id_token(who, WEB, sub=None),
        "garbage": "not.a.jwt",
        "empty": "",
    }


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "wrong audience",
        "expired",
        "wrong issuer",
        "alg none",
        "HS256 with the public key",
        "unknown kid",
        "no kid",
        "no sub",
        "garbage",
        "empty",
    ],
)
def test_a_forged_or_stale_id_token_is_refused(db, oidc, case):
    response = provider_token(forged_tokens(oidc)[case])
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and body["errors"][0]["code"]
    assert "meta" not in body
    assert SocialAccount.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {
            "provider": "nope",
            "process": "login",
            "token": {"client_id": WEB, "id_token": "x"},
        },
        {
            "provider": "fake",
            "process": "login",
            "token": {"client_id": "nope", "id_token": "x"},
        },
        {"provider": "fake", "process": "login", "token": {"id_token": "x"}},
        {"provider": "fake", "process": "login", "token": "x"},
        {"provider": "fake", "process": "login", "token": {"client_id": WEB}},
        {
            "provider": "fake",
            "process": "hijack",
            "token": {"client_id": WEB, "id_token": "x"},
        },
        {
            "provider": "google",
            "process": "login",
            "token": {"client_id": WEB, "id_token": "x"},
        },
        {},
    ],
)
def test_an_unknown_provider_or_malformed_request_is_a_4xx(db, oidc, payload):
    response = APIClient().post(TOKEN, payload, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]


def test_a_replayed_id_token_is_refused(db, oidc):
    token = oidc.id_token(alice(), WEB)
    user_of(provider_token(token))
    assert provider_token(token).status_code == 400


def test_an_unverified_provider_email_creates_no_account(db, oidc):
    response = provider_token(oidc.id_token(alice(email_verified=False), WEB))
    assert response.status_code == 403, response.content
    assert not SocialAccount.objects.exists()
    assert not EmailAddress.objects.filter(email="alice@example.com").exists()


def test_a_provider_without_an_email_creates_no_account(db, oidc):
    nobody = Identity(sub="no-mail", email=None)
    assert provider_token(oidc.id_token(nobody, WEB)).status_code == 403
    assert not SocialAccount.objects.exists()


def test_an_unverified_provider_email_never_connects_to_an_existing_account(
    db, oidc, make_user
):
    owner = make_user(VICTIM)
    attacker = Identity(sub="attacker", email=VICTIM, email_verified=False)
    response = provider_token(oidc.id_token(attacker, WEB))
    assert response.status_code in (401, 403), response.content
    assert "access_token" not in response.json().get("meta", {})
    assert not SocialAccount.objects.filter(user=owner).exists()


def test_a_verified_provider_email_does_not_sign_in_to_an_existing_account(
    db, oidc, make_user
):
    """SOCIALACCOUNT_EMAIL_AUTHENTICATION is off: an address alone opens no account.
    The owner is told by mail, the caller learns nothing."""
    owner = make_user(VICTIM)
    claimant = Identity(sub="claimant", email=VICTIM, email_verified=True)
    response = provider_token(oidc.id_token(claimant, WEB))
    assert response.status_code == 401, response.content
    flows = {f["id"]: f for f in response.json()["data"]["flows"]}
    assert flows["verify_email"]["is_pending"]
    assert "access_token" not in response.json().get("meta", {})
    assert not SocialAccount.objects.filter(user=owner).exists()
    assert [m.to for m in mail.outbox] == [[VICTIM]]


def test_account_pre_hijacking_by_local_signup_fails(db, oidc):
    """An attacker signs up by email with the victim's address (never verified); the
    victim then signs in with the provider. The victim is not signed in to the
    attacker's account, the provider identity is not attached to it, and when the victim
    takes the address back (password reset) the attacker's password stops working."""
    anon = APIClient()
    signup = anon.post(
        "/api/v1/auth/signup",
        {"email": VICTIM, "password": "Attacker-Pass-1"},
        format="json",
    )
    assert signup.status_code == 401, signup.content  # must verify the address first
    attacker_account = EmailAddress.objects.get(email=VICTIM)
    assert not attacker_account.verified
    mail.outbox.clear()
    cache.clear()  # the attack happened days ago: no mail rate limit still running

    victim = Identity(sub="victim-sub", email=VICTIM, email_verified=True)
    response = provider_token(oidc.id_token(victim, WEB))
    assert response.status_code == 401, response.content
    assert "access_token" not in response.json().get("meta", {})
    assert not SocialAccount.objects.exists()
    assert [m.to for m in mail.outbox] == [[VICTIM]]  # "you already have an account"

    # The attacker's password opens nothing: the address is unverified.
    cache.clear()
    login = anon.post(
        "/api/v1/auth/login",
        {"email": VICTIM, "password": "Attacker-Pass-1"},
        format="json",
    )
    assert login.status_code == 401
    assert "access_token" not in login.json().get("meta", {})

    # The victim resets the password by a code sent to their mailbox ...
    mail.outbox.clear()
    request = APIClient().post(
        "/api/v1/auth/password/request", {"email": VICTIM}, format="json"
    )
    assert request.status_code == 401, request.content  # pending: enter the code
    phone = APIClient()
    phone.credentials(HTTP_X_SESSION_TOKEN=request.json()["meta"]["session_token"])
    code = reset_code(mail.outbox[-1].body)
    reset = phone.post(
        "/api/v1/auth/password/reset",
        {"key": code, "password": "Victim-Pass-22"},
        format="json",
    )
    assert reset.status_code == 401, reset.content  # reset; now sign in
    # ... and only the victim's password works afterwards.
    bad = APIClient().post(
        "/api/v1/auth/login",
        {"email": VICTIM, "password": "Attacker-Pass-1"},
        format="json",
    )
    assert bad.status_code == 400
    good = APIClient().post(
        "/api/v1/auth/login",
        {"email": VICTIM, "password": "Victim-Pass-22"},
        format="json",
    )
    assert good.status_code == 200, good.content
    token = good.json()["meta"]["access_token"]
    # Now the victim connects the provider to the account they own.
    connect = provider_token(
        oidc.id_token(victim, WEB), process="connect", client=client_with(token)
    )
    assert connect.status_code == 200, connect.content
    assert SocialAccount.objects.get().user.email == VICTIM


def reset_code(body: str) -> str:
    """The code line of allauth's password-reset-by-code mail (e.g. "SSBX-WSWR")."""
    return re.search(r"^\s*([A-Z0-9]{3,}(?:-[A-Z0-9]{3,})*)\s*$", body, re.M).group(1)


# --- connect, list, remove ---------------------------------------------------------------
def test_a_signed_in_user_connects_lists_and_removes_a_provider(db, oidc, app_user):
    from tests.conftest import login

    client = client_with(login(app_user.email, USER_PASSWORD))
    other = Identity(sub="work-sub", email="work@example.com")
    connect = provider_token(
        oidc.id_token(other, WEB), process="connect", client=client
    )
    assert connect.status_code == 200, connect.content
    listed = client.get(PROVIDERS)
    assert listed.status_code == 200
    [entry] = listed.json()["data"]
    assert entry["uid"] == "work-sub" and entry["provider"]["id"] == "fake"
    # Signing in with that identity now opens this account.
    again = user_of(provider_token(oidc.id_token(other, WEB)))
    assert again["id"] == app_user.pk

    removed = client.delete(
        PROVIDERS, {"provider": "fake", "account": "work-sub"}, format="json"
    )
    assert removed.status_code == 200, removed.content
    assert removed.json()["data"] == []
    assert not SocialAccount.objects.exists()


def test_an_identity_of_another_user_cannot_be_connected(db, oidc, app_user):
    from tests.conftest import login

    user_of(provider_token(oidc.id_token(alice(), WEB)))
    client = client_with(login(app_user.email, USER_PASSWORD))
    response = provider_token(
        oidc.id_token(alice(), WEB), process="connect", client=client
    )
    assert response.status_code == 400, response.content
    assert SocialAccount.objects.get().user.email == "alice@example.com"


def test_connecting_needs_a_signed_in_user(db, oidc):
    response = provider_token(oidc.id_token(alice(), WEB), process="connect")
    assert response.status_code in (401, 403), response.content
    assert not SocialAccount.objects.exists()


def test_the_providers_list_needs_a_signed_in_user(db, oidc):
    assert APIClient().get(PROVIDERS).status_code == 401
    assert (
        APIClient()
        .delete(PROVIDERS, {"provider": "fake", "account": "alice-sub"}, format="json")
        .status_code
        == 401
    )


def test_a_user_cannot_remove_another_users_provider(db, oidc, app_user):
    from tests.conftest import login

    user_of(provider_token(oidc.id_token(alice(), WEB)))
    client = client_with(login(app_user.email, USER_PASSWORD))
    response = client.delete(
        PROVIDERS, {"provider": "fake", "account": "alice-sub"}, format="json"
    )
    assert response.status_code == 400
    assert SocialAccount.objects.count() == 1


def test_the_last_provider_of_an_account_without_password_cannot_be_removed(db, oidc):
    token = provider_token(oidc.id_token(alice(), WEB)).json()["meta"]["access_token"]
    response = client_with(token).delete(
        PROVIDERS, {"provider": "fake", "account": "alice-sub"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "no_password"


# --- configuration -----------------------------------------------------------------------
def test_a_provider_configured_in_the_database_works(db, idp, settings):
    """The console's way: a SocialApp row (no django.contrib.sites needed)."""
    settings.SOCIALACCOUNT_PROVIDERS = {}
    SocialApp.objects.create(
        provider="openid_connect",
        provider_id="console-idp",
        name="Console IdP",
        client_id=WEB,
        secret="web-secret",
        settings={"server_url": idp.url},
    )
    response = provider_token(idp.id_token(alice(), WEB), provider="console-idp")
    assert user_of(response)["email"] == "alice@example.com"
    assert SocialAccount.objects.get().provider == "console-idp"


def test_the_app_config_lists_the_configured_providers(db, oidc):
    response = APIClient().get("/api/v1/config")
    assert response.status_code == 200
    providers = response.json()["data"]["socialaccount"]["providers"]
    assert {(p["id"], p["client_id"]) for p in providers} >= {
        ("fake", WEB),
        ("fake", IOS),
    }


def test_providers_are_configured_from_the_environment(monkeypatch):
    monkeypatch.setenv("BAAS_GOOGLE_CLIENT_ID", "web.apps.googleusercontent.com")
    monkeypatch.setenv("BAAS_GOOGLE_SECRET", "g-secret")
    monkeypatch.setenv("BAAS_GOOGLE_IOS_CLIENT_ID", "ios.apps.googleusercontent.com")
    monkeypatch.setenv(
        "BAAS_GOOGLE_ANDROID_CLIENT_ID", "and.apps.googleusercontent.com"
    )
    monkeypatch.setenv("BAAS_APPLE_SERVICES_ID", "com.example.web")
    monkeypatch.setenv("BAAS_APPLE_BUNDLE_IDS", "com.example.app")
    monkeypatch.setenv("BAAS_APPLE_TEAM_ID", "TEAM123456")
    monkeypatch.setenv("BAAS_APPLE_KEY_ID", "KEY1234567")
    monkeypatch.setenv(
        "BAAS_APPLE_PRIVATE_KEY",
        "-----BEGIN PRIVATE KEY-----\\nabc\\n-----END PRIVATE KEY-----",
    )
    providers = social_providers_from_env()
    google = providers["google"]["APPS"]
    assert [a["client_id"] for a in google] == [
        "web.apps.googleusercontent.com",
        "ios.apps.googleusercontent.com",
        "and.apps.googleusercontent.com",
    ]
    assert [a["settings"]["hidden"] for a in google] == [False, True, True]
    apple = providers["apple"]["APPS"]
    assert [a["client_id"] for a in apple] == ["com.example.web", "com.example.app"]
    assert apple[0]["key"] == "TEAM123456" and apple[0]["secret"] == "KEY1234567"
    assert apple[0]["settings"]["certificate_key"].count("\n") == 2


def test_a_broken_oidc_configuration_is_reported_at_start(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    for value in ("{not json", '{"id": "x"}', '[{"id": "x"}]'):
        monkeypatch.setenv("BAAS_OIDC_PROVIDERS", value)
        with pytest.raises(ImproperlyConfigured):
            social_providers_from_env()


def test_operators_cannot_turn_on_email_trust_through_the_environment(monkeypatch):
    entry = {
        "id": "x",
        "server_url": "https://idp.example.com",
        "client_id": "c",
        "verified_email": True,
        "email_authentication": True,
    }
    monkeypatch.setenv("BAAS_OIDC_PROVIDERS", json.dumps([entry]))
    [app] = social_providers_from_env()["openid_connect"]["APPS"]
    assert "verified_email" not in app["settings"]
    assert "email_authentication" not in app["settings"]


# --- web redirect flow (browser client) --------------------------------------------------
def redirect_flow(client, idp, identity, process="login"):
    """POST the redirect form, follow the provider's pages with `requests`, and come
    back to our callback with the test client; returns the final redirect."""
    idp.next_user = identity
    start = client.post(
        "/api/browser/v1/auth/provider/redirect",
        {"provider": "fake", "callback_url": "/signed-in", "process": process},
    )
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    assert authorize.startswith(f"{idp.url}/authorize?")
    at_idp = requests.get(authorize, allow_redirects=False, timeout=10)
    assert at_idp.status_code == 302
    back = urlsplit(at_idp.headers["Location"])
    assert back.path == "/accounts/oidc/fake/login/callback/"
    return client.get(f"{back.path}?{back.query}")


def test_the_web_redirect_flow_signs_in_with_a_session(db, oidc):
    from django.test import Client

    browser = Client()
    done = redirect_flow(browser, oidc, alice())
    assert done.status_code == 302 and done["Location"] == "/signed-in"
    session = browser.get("/api/browser/v1/auth/session")
    assert session.status_code == 200, session.content
    assert session.json()["data"]["user"]["email"] == "alice@example.com"
    # The code went back to the provider with the client secret and a PKCE verifier.
    [exchange] = oidc.token_requests
    assert exchange["code_verifier"]


def test_the_web_redirect_flow_refuses_a_forged_state(db, oidc):
    from django.test import Client

    browser = Client()
    oidc.next_user = alice()
    start = browser.post(
        "/api/browser/v1/auth/provider/redirect",
        {"provider": "fake", "callback_url": "/signed-in", "process": "login"},
    )
    at_idp = requests.get(start["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_idp.headers["Location"])
    query = parse_qs(back.query)
    # Another browser (no state in its session) replays the callback.
    thief = Client()
    done = thief.get(back.path, {"code": query["code"][0], "state": query["state"][0]})
    assert done.status_code == 400, done.content
    assert done.json()["errors"][0]["code"]
    assert thief.get("/api/browser/v1/auth/session").status_code == 401
    assert not SocialAccount.objects.exists()


def test_the_web_redirect_flow_reports_a_denied_consent(db, oidc):
    from django.test import Client

    browser = Client()
    done = redirect_flow(browser, oidc, None)
    assert done.status_code == 302
    assert done["Location"].startswith("/signed-in?") and "error=" in done["Location"]
    assert browser.get("/api/browser/v1/auth/session").status_code == 401


def test_the_redirect_flow_for_an_unknown_provider_signs_nobody_in(db, oidc):
    from django.test import Client

    browser = Client()
    response = browser.post(
        "/api/browser/v1/auth/provider/redirect",
        {"provider": "nope", "callback_url": "/signed-in", "process": "login"},
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["code"]
    assert browser.get("/api/browser/v1/auth/session").status_code == 401


# --- Google and Apple: their own verification, keys served from localhost -------------
# allauth hard-codes where Google's and Apple's signing keys live (Google: the module
# constant CERTS_URL, read from settings at import; Apple: AppleOAuth2Adapter.
# public_key_url). Only that address is pointed at the fake provider; the issuers stay
# the real ones and every other check (signature, aud, exp, iss) is allauth's own.
@pytest.fixture
def google(monkeypatch, settings):
    from allauth.socialaccount.providers.google import views

    with FakeOIDCProvider(
        clients={}, issuer_override="https://accounts.google.com"
    ) as idp:
        monkeypatch.setattr(views, "CERTS_URL", f"{idp.url}/certs")
        monkeypatch.setenv("BAAS_GOOGLE_CLIENT_ID", "web.apps.googleusercontent.com")
        monkeypatch.setenv(
            "BAAS_GOOGLE_IOS_CLIENT_ID", "ios.apps.googleusercontent.com"
        )
        settings.SOCIALACCOUNT_PROVIDERS = social_providers_from_env()
        yield idp


@pytest.fixture
def apple(monkeypatch, settings):
    from allauth.socialaccount.providers.apple.views import AppleOAuth2Adapter

    with FakeOIDCProvider(
        clients={}, issuer_override="https://appleid.apple.com"
    ) as idp:
        monkeypatch.setattr(AppleOAuth2Adapter, "public_key_url", f"{idp.url}/jwks")
        monkeypatch.setenv("BAAS_APPLE_SERVICES_ID", "com.example.web")
        monkeypatch.setenv("BAAS_APPLE_BUNDLE_IDS", "com.example.app")
        settings.SOCIALACCOUNT_PROVIDERS = social_providers_from_env()
        yield idp


@pytest.mark.parametrize(
    "client_id", ["web.apps.googleusercontent.com", "ios.apps.googleusercontent.com"]
)
def test_google_sign_in_from_a_native_app(db, google, client_id):
    token = google.id_token(alice(), client_id)
    response = provider_token(token, provider="google", client_id=client_id)
    assert user_of(response)["email"] == "alice@example.com"
    assert SocialAccount.objects.get().provider == "google"


def test_google_refuses_a_token_from_another_issuer_or_app(db, google):
    web = "web.apps.googleusercontent.com"
    who = alice()
    for token in (
        google.id_token(who, web, iss="https://evil.example.com"),
        google.id_token(who, "someone-else.apps.googleusercontent.com"),
        google.id_token(who, web, key=new_rsa_key()),
        google.id_token(who, web, alg="none"),
    ):
        response = provider_token(token, provider="google", client_id=web)
        assert response.status_code == 400, response.content
    assert not SocialAccount.objects.exists()


def test_apple_sign_in_from_a_native_app(db, apple):
    # Apple sends email_verified as the string "true".
    who = Identity(
        sub="001234.abcd", email="x@privaterelay.appleid.com", email_verified="true"
    )
    token = apple.id_token(who, "com.example.app", name=None)  # Apple sends no name
    response = provider_token(token, provider="apple", client_id="com.example.app")
    assert user_of(response)["email"] == "x@privaterelay.appleid.com"
    assert EmailAddress.objects.get().verified


def test_apple_refuses_a_token_for_another_app_or_unverified(db, apple):
    who = Identity(sub="001234.abcd", email="x@example.com", email_verified="false")
    unverified = apple.id_token(who, "com.example.app", name=None)
    response = provider_token(unverified, provider="apple", client_id="com.example.app")
    assert response.status_code == 403
    other = apple.id_token(alice(), "com.other.app", name=None)
    response = provider_token(other, provider="apple", client_id="com.example.app")
    assert response.status_code == 400
    assert not SocialAccount.objects.exists()
