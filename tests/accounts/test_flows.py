"""Every account flow a mobile app uses, over HTTP for the `app` client: sign-up with
email verification by code, login by password and by emailed code, password reset by
code, change password, change email, logout; and the `browser` client's cookie login."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from rest_framework.test import APIClient

from tests.conftest import USER_PASSWORD, client_with

PASSWORD = "A-long-pass-phrase-1"
ME = "/api/v1/collections/users/records"


def last_code() -> str:
    """The code in the newest email (allauth's codes look like ABCD-EFGH)."""
    assert mail.outbox, "no email was sent"
    match = re.search(
        r"^([A-Z0-9]{4}-?[A-Z0-9]{4}|[A-Z0-9]{6})$", mail.outbox[-1].body, re.M
    )
    assert match, mail.outbox[-1].body
    return match.group(1)


def post(path: str, body: dict, session_token: str | None = None, client=None):
    client = client or APIClient()
    headers = {"HTTP_X_SESSION_TOKEN": session_token} if session_token else {}
    return client.post(f"/api/v1{path}", body, format="json", **headers)


def pending(response) -> str:
    """A 401 that asks for the next step: the id of the pending flow."""
    assert response.status_code == 401, response.content
    body = response.json()
    flows = [f["id"] for f in body["data"]["flows"] if f.get("is_pending")]
    assert len(flows) == 1, body
    assert body["meta"]["session_token"]
    return flows[0]


def signed_in(response) -> dict:
    assert response.status_code == 200, response.content
    meta = response.json()["meta"]
    assert meta["is_authenticated"] is True
    assert client_with(meta["access_token"]).get(ME).status_code == 200
    return meta


def test_signup_asks_for_the_emailed_code_then_signs_in(db):
    response = post("/auth/signup", {"email": "new@example.com", "password": PASSWORD})
    assert pending(response) == "verify_email"
    token = response.json()["meta"]["session_token"]
    assert mail.outbox[-1].to == ["new@example.com"]
    meta = signed_in(post("/auth/email/verify", {"key": last_code()}, token))
    user = client_with(meta["access_token"]).get(ME).json()["items"][0]
    assert user["email"] == "new@example.com"


def test_a_wrong_verification_code_is_refused_and_signs_nobody_in(db):
    response = post("/auth/signup", {"email": "new@example.com", "password": PASSWORD})
    token = response.json()["meta"]["session_token"]
    wrong = post("/auth/email/verify", {"key": "AAAA-AAAA"}, token)
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["param"] == "key"


def test_an_unverified_account_cannot_log_in_until_verified(db):
    from django.core.cache import cache

    post("/auth/signup", {"email": "new@example.com", "password": PASSWORD})
    # Within 3 minutes of a code, allauth refuses a new one (and so the login): 429;
    # the app continues with the sign-up's session token instead.
    again = post("/auth/login", {"email": "new@example.com", "password": PASSWORD})
    assert again.status_code == 429 and again["Retry-After"]
    cache.clear()  # (three minutes later)
    response = post("/auth/login", {"email": "new@example.com", "password": PASSWORD})
    assert pending(response) == "verify_email"
    token = response.json()["meta"]["session_token"]
    signed_in(post("/auth/email/verify", {"key": last_code()}, token))


@pytest.mark.parametrize(
    "body, param",
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "new@example.com", "password": "short"}, "password"),
        ({"email": "new@example.com", "password": "password123"}, "password"),
        ({"email": "new@example.com"}, "password"),
        ({"password": PASSWORD}, "email"),
    ],
)
def test_bad_signup_input_is_400_naming_the_field(db, body, param):
    response = post("/auth/signup", body)
    assert response.status_code == 400, response.content
    assert param in {e.get("param") for e in response.json()["errors"]}


@pytest.mark.parametrize("body", ["[]", "null", "{", '"x"', '{"email": 5}'])
def test_malformed_auth_bodies_are_400_never_500(db, body):
    for path in (
        "/auth/signup",
        "/auth/login",
        "/auth/code/request",
        "/tokens/refresh",
    ):
        response = APIClient().generic(
            "POST", f"/api/v1{path}", body, content_type="application/json"
        )
        assert response.status_code == 400, (path, response.content)
        assert response.json()["errors"]


def test_login_by_emailed_code(db, app_user):
    response = post("/auth/code/request", {"email": app_user.email})
    assert pending(response) == "login_by_code"
    token = response.json()["meta"]["session_token"]
    signed_in(post("/auth/code/confirm", {"code": last_code()}, token))


def test_a_wrong_login_code_is_refused(db, app_user):
    response = post("/auth/code/request", {"email": app_user.email})
    token = response.json()["meta"]["session_token"]
    assert post("/auth/code/confirm", {"code": "AAAA-AAAA"}, token).status_code == 400


def test_password_reset_by_code_then_login_with_the_new_password(db, app_user):
    old = post("/auth/login", {"email": app_user.email, "password": USER_PASSWORD})
    old_meta = signed_in(old)
    response = post("/auth/password/request", {"email": app_user.email})
    assert pending(response) == "password_reset_by_code"
    token = response.json()["meta"]["session_token"]
    code = last_code()
    response = post("/auth/password/reset", {"key": code, "password": PASSWORD}, token)
    assert response.status_code in (200, 401), response.content
    # Every device that was signed in with the old password is signed out.
    assert client_with(old_meta["access_token"]).get(ME).status_code == 401
    refused = post("/auth/login", {"email": app_user.email, "password": USER_PASSWORD})
    assert refused.status_code == 400
    signed_in(post("/auth/login", {"email": app_user.email, "password": PASSWORD}))


def test_changing_the_password_keeps_this_device_and_ends_the_others(db, app_user):
    phone = signed_in(
        post("/auth/login", {"email": app_user.email, "password": USER_PASSWORD})
    )
    laptop = signed_in(
        post("/auth/login", {"email": app_user.email, "password": USER_PASSWORD})
    )
    response = client_with(phone["access_token"]).post(
        "/api/v1/account/password/change",
        {"current_password": USER_PASSWORD, "new_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 200, response.content
    meta = response.json()["meta"]
    assert client_with(meta["access_token"]).get(ME).status_code == 200
    refreshed = post("/tokens/refresh", {"refresh_token": meta["refresh_token"]})
    assert refreshed.status_code == 200
    assert client_with(laptop["access_token"]).get(ME).status_code == 401
    assert (
        post("/tokens/refresh", {"refresh_token": laptop["refresh_token"]}).status_code
        == 401
    )


def test_changing_the_password_needs_the_current_one(db, app_user, user_client):
    response = user_client.post(
        "/api/v1/account/password/change",
        {"current_password": "wrong-password", "new_password": PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["param"] == "current_password"


def test_changing_the_email_sends_a_code_to_the_new_address(db, app_user, user_client):
    response = user_client.post(
        "/api/v1/account/email", {"email": "moved@example.com"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert mail.outbox[-1].to == ["moved@example.com"]
    addresses = {a["email"]: a for a in response.json()["data"]}
    assert addresses["moved@example.com"]["verified"] is False


def test_an_email_taken_by_someone_else_cannot_be_added(
    db, app_user, make_user, user_client
):
    make_user("taken@example.com")
    response = user_client.post(
        "/api/v1/account/email", {"email": "taken@example.com"}, format="json"
    )
    # (allauth answers as if it worked and mails the owner: no enumeration)
    assert response.status_code in (200, 400)
    from allauth.account.models import EmailAddress

    assert not EmailAddress.objects.filter(
        user=app_user, email="taken@example.com"
    ).exists()


def test_account_endpoints_refuse_guests(db):
    for method, path in [
        ("get", "/api/v1/account/email"),
        ("post", "/api/v1/account/password/change"),
        ("get", "/api/v1/auth/sessions"),
        ("get", "/api/v1/account/authenticators"),
    ]:
        response = getattr(APIClient(), method)(path, {}, format="json")
        assert response.status_code in (401, 410), (path, response.content)


def test_the_browser_client_logs_in_with_a_session_cookie_and_csrf(db, app_user):
    client = APIClient(enforce_csrf_checks=True)
    config = client.get("/api/browser/v1/config")
    assert config.status_code == 200
    csrf = client.cookies.get("csrftoken")
    assert csrf is not None
    without = client.post(
        "/api/browser/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
    )
    assert without.status_code == 403
    response = client.post(
        "/api/browser/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
        HTTP_X_CSRFTOKEN=csrf.value,
    )
    assert response.status_code == 200, response.content
    assert "access_token" not in response.json().get("meta", {})
    assert client.get("/api/browser/v1/auth/session").status_code == 200
