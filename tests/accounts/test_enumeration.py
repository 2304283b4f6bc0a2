"""No user enumeration through sign-up, password reset, login codes or login: for an
address with an account and one without, the same status and body, and the same work
(password hashes computed, emails queued) instead of any timing assertion."""

from __future__ import annotations

import pytest
from django.contrib.auth import hashers
from django.core import mail
from rest_framework.test import APIClient

LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"
RESET = "/api/v1/auth/password/request"
CODE = "/api/v1/auth/code/request"
UNKNOWN = "nobody@example.com"


@pytest.fixture
def hashes(monkeypatch):
    """Counts password hash computations: with the tests' MD5 hasher, making a hash and
    checking one each run `encode` once."""
    assert hashers.get_hasher().algorithm == "md5"
    calls: list[int] = []
    encode = hashers.MD5PasswordHasher.encode

    def counting(self, *args, **kwargs):
        calls.append(1)
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(hashers.MD5PasswordHasher, "encode", counting)
    return calls


def attempt(path: str, body: dict, hashes: list) -> tuple[int, dict, int, list]:
    """(status, body without the per-request session token, hashes, mails queued)."""
    hashes.clear()
    sent = len(mail.outbox)
    response = APIClient().post(path, body, format="json")
    payload = response.json()
    payload.get("meta", {}).pop("session_token", None)
    return response.status_code, payload, len(hashes), mail.outbox[sent:]


def test_sign_up_with_a_taken_address_answers_like_a_new_one(db, app_user, hashes):
    password = "A-long-passphrase-1"
    new = attempt(SIGNUP, {"email": "fresh@example.com", "password": password}, hashes)
    taken = attempt(SIGNUP, {"email": app_user.email, "password": password}, hashes)
    assert new[0] == taken[0] == 401  # verify the email to go on
    assert new[1] == taken[1]
    assert new[2] == taken[2] == 1  # the new account's password; the same work
    (to_new,), (to_owner,) = new[3], taken[3]
    assert to_new.to == ["fresh@example.com"]
    assert to_owner.to == [app_user.email]  # the owner is told, not the requester
    assert "already exists" in to_owner.body
    assert "None" not in to_owner.body and "about:blank" not in to_owner.body


def test_a_taken_address_in_other_letter_case_answers_like_a_new_one(
    db, app_user, hashes
):
    password = "A-long-passphrase-1"
    new = attempt(SIGNUP, {"email": "fresh@example.com", "password": password}, hashes)
    taken = attempt(
        SIGNUP, {"email": app_user.email.upper(), "password": password}, hashes
    )
    assert new[:3] == taken[:3]
    assert len(taken[3]) == 1


def test_a_password_reset_request_answers_alike_for_known_and_unknown(
    db, app_user, hashes
):
    unknown = attempt(RESET, {"email": UNKNOWN}, hashes)
    known = attempt(RESET, {"email": app_user.email}, hashes)
    assert unknown[0] == known[0] == 401  # enter the code to go on
    assert unknown[1] == known[1]
    assert unknown[2] == known[2]
    assert len(unknown[3]) == len(known[3]) == 1
    assert unknown[3][0].to == [UNKNOWN] and known[3][0].to == [app_user.email]


def test_a_login_code_request_answers_alike_for_known_and_unknown(db, app_user, hashes):
    unknown = attempt(CODE, {"email": UNKNOWN}, hashes)
    known = attempt(CODE, {"email": app_user.email}, hashes)
    assert unknown[0] == known[0] == 401
    assert unknown[1] == known[1]
    assert unknown[2] == known[2]
    assert len(unknown[3]) == len(known[3]) == 1


def test_login_with_an_unknown_address_answers_like_a_wrong_password(
    db, app_user, hashes
):
    unknown = attempt(LOGIN, {"email": UNKNOWN, "password": "a-guess-123"}, hashes)
    wrong = attempt(LOGIN, {"email": app_user.email, "password": "a-guess-123"}, hashes)
    assert unknown[0] == wrong[0] == 400
    assert unknown[1] == wrong[1]
    assert unknown[1]["errors"][0]["code"] == "email_password_mismatch"
    # An unknown address still costs a hash, as Django's ModelBackend makes sure.
    assert unknown[2] == wrong[2] >= 1
    assert unknown[3] == wrong[3] == []


def test_login_to_an_unverified_account_with_a_wrong_password_reveals_nothing(
    db, app_user, hashes
):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.filter(user=app_user).update(verified=False)
    unknown = attempt(LOGIN, {"email": UNKNOWN, "password": "a-guess-123"}, hashes)
    wrong = attempt(LOGIN, {"email": app_user.email, "password": "a-guess-123"}, hashes)
    assert unknown[:3] == wrong[:3]
    assert wrong[3] == []  # no verification mail for a wrong password


def test_the_notice_to_an_unknown_address_links_the_configured_sign_up_page(
    db, settings
):
    settings.HEADLESS_FRONTEND_URLS = {"account_signup": "https://app.example.com/join"}
    response = APIClient().post(RESET, {"email": UNKNOWN}, format="json")
    assert response.status_code == 401
    assert "https://app.example.com/join" in mail.outbox[-1].body
