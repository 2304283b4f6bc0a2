"""Who can open the console, in-process: every console URL (found by walking the URL map,
so pages added later are covered too) refuses anyone but a superuser signed in through the
console's own login; sign-in checks, rate limits, second factors and CSRF."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD
from tests.console.conftest import console_session

PUBLIC = {"login", "login-mfa", "login-passkey", "logout"}


def _console_urls() -> list[tuple[str, str]]:
    """(name, path) of every console page that needs a signed-in superuser, with a
    placeholder for each URL argument."""
    (console,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "console"
    ]
    found = []

    def walk(patterns, prefix: str) -> None:
        for entry in patterns:
            route = str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + route)
            elif isinstance(entry, URLPattern) and entry.name not in PUBLIC:
                path = prefix + route
                for converter in ("<str:", "<int:", "<slug:", "<path:", "<uuid:", "<"):
                    while converter in path:
                        start = path.index(converter)
                        end = path.index(">", start)
                        path = path[:start] + "1" + path[end + 1 :]
                found.append((entry.name, "/console/" + path))

    walk(console.url_patterns, "")
    return found


URLS = _console_urls()


def test_the_console_has_pages_to_check():
    assert ("home", "/console/") in URLS


@pytest.mark.django_db
@pytest.mark.parametrize("name,path", URLS, ids=[name for name, _ in URLS])
def test_anonymous_visitors_are_sent_to_sign_in_or_refused(name, path):
    client = Client()
    page = client.get(path)
    assert page.status_code == 302
    assert page["Location"].startswith("/console/login/?next=")
    for method in ("post", "put", "patch", "delete"):
        answer = getattr(client, method)(path)
        assert answer.status_code == 403, (method, path)
    assert client.get(path, HTTP_HX_REQUEST="true").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("name,path", URLS, ids=[name for name, _ in URLS])
def test_app_users_never_open_a_console_page(name, path, make_user):
    # Even an app user's session that somehow carried the console mark is refused.
    client = console_session(make_user())
    assert client.get(path).status_code == 302
    assert client.post(path).status_code == 403


@pytest.mark.django_db
def test_a_superuser_session_opened_elsewhere_does_not_open_the_console(superuser):
    client = Client()
    client.force_login(superuser)  # e.g. allauth's browser client
    assert client.get("/console/").status_code == 302
    assert console_session(superuser).get("/console/").status_code == 200


@pytest.mark.django_db
def test_a_disabled_superuser_loses_the_console_at_once(superuser):
    client = console_session(superuser)
    superuser.is_active = False
    superuser.save()
    assert client.get("/console/").status_code == 302


@pytest.mark.django_db
def test_console_pages_carry_a_strict_policy_and_are_not_cached(superuser):
    page = console_session(superuser).get("/console/")
    policy = page["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "no-store" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]
    assert page["X-Frame-Options"] == "DENY"
    login = Client().get("/console/login/")
    assert "frame-ancestors 'none'" in login["Content-Security-Policy"]


# --- sign-in ---------------------------------------------------------------------------


def _sign_in(client: Client, email: str, password: str, **extra):
    client.get("/console/login/")
    return client.post(
        "/console/login/", {"email": email, "password": password, **extra}
    )


@pytest.mark.django_db
def test_sign_in_with_the_password_opens_the_console(superuser):
    client = Client()
    answer = _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD, next="/console/users/")
    assert answer.status_code == 302
    assert answer["Location"] == "/console/users/"
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/console/", "/api/v1/schema"]
)
def test_sign_in_never_redirects_off_the_console(superuser, target):
    answer = _sign_in(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, next=target)
    assert answer["Location"] == "/console/"


@pytest.mark.django_db
def test_app_users_and_wrong_passwords_are_refused_alike(superuser, make_user):
    user = make_user()
    for email, password in [
        (user.email, USER_PASSWORD),
        (ADMIN_EMAIL, "not the password"),
        ("nobody@example.com", "whatever it is"),
    ]:
        client = Client()
        answer = _sign_in(client, email, password)
        assert answer.status_code == 400
        assert b"These credentials cannot open the console." in answer.content
        assert client.get("/console/").status_code == 302


@pytest.mark.django_db
def test_repeated_failures_are_rate_limited(superuser):
    client = Client()
    statuses = [
        _sign_in(client, ADMIN_EMAIL, f"wrong {n}").status_code for n in range(8)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[-1] == 429
    # The limit holds for the right password too, until it expires.
    assert _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429


@pytest.mark.django_db
def test_csrf_is_required_on_sign_in_and_every_change(superuser):
    client = Client(enforce_csrf_checks=True)
    answer = client.post(
        "/console/login/", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert answer.status_code == 403
    signed_in = console_session(superuser)
    signed_in.handler.enforce_csrf_checks = True
    assert signed_in.post("/console/logout/").status_code == 403
    assert signed_in.get("/console/").status_code == 200


def _current_code(authenticator: Authenticator) -> str:
    secret = TOTP(authenticator).instance.data["secret"]
    counter = next(yield_hotp_counters_from_time())
    return format_hotp_value(hotp_value(secret, counter))


@pytest.fixture
def totp_superuser(superuser):
    from allauth.mfa.totp.internal.auth import generate_totp_secret

    authenticator = TOTP.activate(superuser, generate_totp_secret()).instance
    return superuser, authenticator


@pytest.mark.django_db
def test_a_superuser_with_an_authenticator_app_must_give_its_code(totp_superuser):
    user, authenticator = totp_superuser
    client = Client()
    answer = _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert answer.status_code == 302
    assert answer["Location"].startswith("/console/login/mfa/")
    assert client.get("/console/").status_code == 302  # not yet
    page = client.get(answer["Location"])
    assert b"Code from your authenticator app" in page.content
    wrong = client.post("/console/login/mfa/", {"code": "000000"})
    assert wrong.status_code == 400
    right = client.post("/console/login/mfa/", {"code": _current_code(authenticator)})
    assert right.status_code == 302
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
def test_the_second_factor_step_is_rate_limited(totp_superuser):
    client = Client()
    _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    statuses = [
        client.post("/console/login/mfa/", {"code": f"{n:06d}"}).status_code
        for n in range(7)
    ]
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_the_second_factor_step_needs_the_password_step_first(totp_superuser):
    client = Client()
    answer = client.post("/console/login/mfa/", {"code": "123456"})
    assert answer.status_code == 302
    assert answer["Location"] == "/console/login/"
    assert client.get("/console/login/passkey/").status_code == 400


@pytest.mark.django_db
@override_settings(BAAS_REQUIRE_SUPERUSER_MFA=True)
def test_required_mfa_keeps_a_superuser_without_one_out(superuser):
    answer = _sign_in(Client(), ADMIN_EMAIL, ADMIN_PASSWORD)
    assert answer.status_code == 403
    assert b"two-factor" in answer.content


@pytest.mark.django_db
@override_settings(BAAS_REQUIRE_SUPERUSER_MFA=True)
def test_required_mfa_lets_a_superuser_with_one_in(totp_superuser):
    user, authenticator = totp_superuser
    client = Client()
    _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    client.post("/console/login/mfa/", {"code": _current_code(authenticator)})
    assert client.get("/console/").status_code == 200


@pytest.mark.django_db
def test_a_malformed_passkey_answer_is_refused_cleanly(superuser):
    from allauth.mfa.models import Authenticator as A

    A.objects.create(user=superuser, type=A.Type.WEBAUTHN, data={"name": "k"})
    client = Client()
    _sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    for body in (b"not json", b"{}", b'{"id": "x", "response": {}}'):
        answer = client.post(
            "/console/login/passkey/", body, content_type="application/json"
        )
        assert answer.status_code == 400
    assert client.get("/console/").status_code == 302


@pytest.mark.django_db
def test_sign_out_ends_the_console_session(superuser):
    client = console_session(superuser)
    assert client.post("/console/logout/").status_code == 302
    assert client.get("/console/").status_code == 302


@pytest.mark.django_db
def test_a_superuser_with_a_passkey_signs_in_with_it():
    from apps.accounts.models import User
    from tests.accounts.test_passkeys import add_passkey, signed_in_client
    from tests.accounts.webauthn_authenticator import SoftwareAuthenticator

    root = User.objects.create_superuser(
        email="root@example.com", password=USER_PASSWORD
    )
    device = SoftwareAuthenticator()
    assert add_passkey(signed_in_client(root.email), device).status_code == 200
    client = Client()
    answer = _sign_in(client, root.email, USER_PASSWORD, next="/console/keys/")
    assert answer["Location"].startswith("/console/login/mfa/")
    page = client.get(answer["Location"])
    assert b"Use a passkey" in page.content
    assert b"authenticator app" not in page.content
    options = client.get("/console/login/passkey/").json()
    # Someone else's device is no second factor.
    stranger = SoftwareAuthenticator()
    stranger.credential_id = device.credential_id
    forged = client.post(
        "/console/login/passkey/?next=/console/keys/",
        stranger.get(options),
        content_type="application/json",
    )
    assert forged.status_code == 400
    assert client.get("/console/").status_code == 302
    options = client.get("/console/login/passkey/").json()
    done = client.post(
        "/console/login/passkey/?next=/console/keys/",
        device.get(options),
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    assert done.json() == {"location": "/console/keys/"}
    assert client.get("/console/").status_code == 200
