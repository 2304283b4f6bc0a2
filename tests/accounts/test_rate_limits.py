"""Auth rate limits over HTTP: per IP and per account, 429 `rate_limited` with an honest
`Retry-After`, and none of the usual ways around them (X-Forwarded-For, Host, letter case,
trailing slashes, other IPs, the batch endpoint, the browser client)."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from tests.conftest import USER_PASSWORD

LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"
RESET = "/api/v1/auth/password/request"
CODE = "/api/v1/auth/code/request"
RESEND = "/api/v1/auth/email/verify/resend"
BATCH = "/api/v1/batch"

# baas/settings.py ACCOUNT_RATE_LIMITS
FAILED_LOGINS_PER_ACCOUNT = 5  # per 5 minutes
FAILED_LOGINS_PER_IP = 10  # per minute
SIGNUPS_PER_IP = 20
RESETS_PER_ACCOUNT = 5
CODES_PER_ACCOUNT = 3
REQUESTS_PER_IP = 20  # reset and code requests


def post(path: str, body: dict, ip: str = "198.51.100.1", **headers):
    return APIClient().post(path, body, format="json", REMOTE_ADDR=ip, **headers)


def wrong_login(email: str, ip: str = "198.51.100.1", **headers):
    return post(LOGIN, {"email": email, "password": "not-the-password"}, ip, **headers)


def assert_limited(response, most: int = 3600) -> int:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["status"] == 429
    assert body["errors"][0]["code"] == "rate_limited"
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= most
    return seconds


def assert_not_limited(response):
    assert response.status_code != 429, response.content
    assert response.status_code < 500, response.content


# --- per account -------------------------------------------------------------------------


def test_failed_logins_for_one_account_end_in_429_with_retry_after(db, app_user):
    for _ in range(FAILED_LOGINS_PER_ACCOUNT):
        assert wrong_login(app_user.email).status_code == 400
    seconds = assert_limited(wrong_login(app_user.email), most=300)
    assert seconds > 240  # the bucket's window is 5 minutes and it just filled
    # The right password does not get through the full bucket either.
    right = post(LOGIN, {"email": app_user.email, "password": USER_PASSWORD})
    assert_limited(right)


def test_the_per_account_login_limit_holds_across_ips(db, app_user):
    for n in range(FAILED_LOGINS_PER_ACCOUNT):
        assert wrong_login(app_user.email, ip=f"203.0.113.{n + 1}").status_code == 400
    assert_limited(wrong_login(app_user.email, ip="192.0.2.99"))


def test_letter_case_in_the_email_shares_the_per_account_bucket(db, app_user):
    spellings = ["Victim@Example.com", "victim@example.com", "VICTIM@EXAMPLE.COM"]
    app_user.email = "victim@example.com"
    app_user.save()
    for n in range(FAILED_LOGINS_PER_ACCOUNT):
        response = wrong_login(spellings[n % 3], ip=f"203.0.113.{n + 1}")
        assert response.status_code == 400
    assert_limited(wrong_login("vIcTiM@eXaMpLe.CoM", ip="192.0.2.7"))


def test_rotating_the_host_header_does_not_give_a_fresh_bucket(db, app_user):
    """allauth keys failed logins by "<site domain>:<email>", and the site is the Host
    header here; the adapter keys by the address alone."""
    for n in range(FAILED_LOGINS_PER_ACCOUNT):
        response = wrong_login(app_user.email, HTTP_HOST=f"h{n}.example.org")
        assert response.status_code == 400
    assert_limited(wrong_login(app_user.email, HTTP_HOST="another.example.org"))


def test_one_account_at_its_limit_does_not_lock_out_another(db, make_user):
    victim, other = make_user("victim@example.com"), make_user("other@example.com")
    for _ in range(FAILED_LOGINS_PER_ACCOUNT + 1):
        wrong_login(victim.email, ip="203.0.113.1")
    ok = post(LOGIN, {"email": other.email, "password": USER_PASSWORD}, "203.0.113.2")
    assert ok.status_code == 200, ok.content


def test_password_reset_requests_for_one_address_are_limited(db, app_user):
    for n in range(RESETS_PER_ACCOUNT):
        assert_not_limited(post(RESET, {"email": app_user.email}, f"203.0.113.{n}"))
    assert_limited(post(RESET, {"email": app_user.email.upper()}, "192.0.2.1"), 60)


def test_login_code_requests_for_one_address_are_limited(db, app_user):
    for n in range(CODES_PER_ACCOUNT):
        assert_not_limited(post(CODE, {"email": app_user.email}, f"203.0.113.{n}"))
    # allauth answers this one 400 too_many_login_attempts: the API says 429.
    assert_limited(post(CODE, {"email": app_user.email.title()}, "192.0.2.1"), 60)


def test_a_second_sign_up_for_one_address_is_limited_across_ips(db):
    body = {"email": "new@example.com", "password": "A-long-passphrase-1"}
    assert post(SIGNUP, body, "203.0.113.1").status_code == 401  # verify your email
    body["email"] = "NEW@example.com"
    assert_limited(post(SIGNUP, body, "203.0.113.2"), most=180)


def test_resending_the_verification_code_is_limited(db, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND = True
    body = {"email": "new@example.com", "password": "A-long-passphrase-1"}
    signup = post(SIGNUP, body)
    token = signup.json()["meta"]["session_token"]
    # The sign-up just sent a code: the address's bucket allows one per 3 minutes.
    assert_limited(post(RESEND, {}, HTTP_X_SESSION_TOKEN=token), most=180)


# --- per IP --------------------------------------------------------------------------------


def test_failed_logins_from_one_ip_are_limited_whatever_the_account(db):
    for n in range(FAILED_LOGINS_PER_IP):
        assert wrong_login(f"someone{n}@example.com").status_code == 400
    assert_limited(wrong_login("someone-else@example.com"), most=60)


def test_sign_ups_from_one_ip_are_limited(db):
    for n in range(SIGNUPS_PER_IP):
        body = {"email": f"new{n}@example.com", "password": "A-long-passphrase-1"}
        assert post(SIGNUP, body).status_code == 401
    body = {"email": "one-more@example.com", "password": "A-long-passphrase-1"}
    assert_limited(post(SIGNUP, body), most=60)


@pytest.mark.parametrize("path", [RESET, CODE])
def test_code_and_reset_requests_from_one_ip_are_limited(db, path):
    for n in range(REQUESTS_PER_IP):
        assert_not_limited(post(path, {"email": f"someone{n}@example.com"}))
    assert_limited(post(path, {"email": "one-more@example.com"}), most=60)


def test_x_forwarded_for_is_ignored_without_trusted_proxies(db):
    for n in range(FAILED_LOGINS_PER_IP):
        response = wrong_login(
            f"someone{n}@example.com", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"
        )
        assert response.status_code == 400
    assert_limited(wrong_login("x@example.com", HTTP_X_FORWARDED_FOR="10.9.9.9"))


def test_with_one_trusted_proxy_the_right_most_address_counts(db, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    proxy = "192.0.2.10"  # every request arrives from the proxy
    for n in range(FAILED_LOGINS_PER_IP):
        # A client prepends whatever it likes; the proxy appends the real address.
        xff = f"10.0.{n}.1, 172.16.0.{n}, 203.0.113.5"
        response = wrong_login(f"u{n}@example.com", proxy, HTTP_X_FORWARDED_FOR=xff)
        assert response.status_code == 400
    rotated = "10.99.99.99, 203.0.113.5"
    limited = wrong_login("x@example.com", proxy, HTTP_X_FORWARDED_FOR=rotated)
    assert_limited(limited)
    # Another client behind the same proxy has its own bucket: the header is used.
    other = wrong_login("x@example.com", proxy, HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert other.status_code == 400


def test_too_few_forwarded_addresses_for_the_trusted_proxies_is_refused(db, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    response = wrong_login("x@example.com", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 403, response.content
    assert response.json()["errors"][0]["code"] == "forbidden"


# --- Retry-After is honest ---------------------------------------------------------------


def test_a_retry_after_the_announced_wait_passes_and_one_before_it_does_not(
    db, app_user, monkeypatch
):
    clock = {"offset": 0.0}
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + clock["offset"])
    for _ in range(RESETS_PER_ACCOUNT):
        post(RESET, {"email": app_user.email})
        clock["offset"] += 5  # the bucket's hits are spread over 25 seconds
    seconds = assert_limited(post(RESET, {"email": app_user.email}))
    assert 60 - 25 - 1 <= seconds <= 60 - 25 + 1  # the oldest hit leaves the window
    clock["offset"] += seconds - 2
    assert_limited(post(RESET, {"email": app_user.email}))
    clock["offset"] += 2
    assert_not_limited(post(RESET, {"email": app_user.email}))


# --- no way around ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/auth/login/",
        "/api/v1/auth/signup/",
        "/api/v1/auth/password/request/",
        "/api/v1/auth/code/request/",
        "/api/v1//auth/login",
        "/api/v1/auth//login",
        "/api/v1/AUTH/LOGIN",
    ],
)
def test_another_spelling_of_an_auth_path_is_404_not_a_fresh_bucket(db, app_user, path):
    for _ in range(FAILED_LOGINS_PER_ACCOUNT):
        wrong_login(app_user.email)
    response = post(path, {"email": app_user.email, "password": "not-the-password"})
    assert response.status_code == 404, response.content
    assert response.json()["errors"][0]["code"] == "not_found"


def test_the_browser_client_shares_the_buckets(db, app_user):
    for _ in range(FAILED_LOGINS_PER_ACCOUNT):
        wrong_login(app_user.email)
    response = post(
        "/api/browser/v1/auth/login",
        {"email": app_user.email, "password": "not-the-password"},
        ip="192.0.2.77",
    )
    assert_limited(response)


def test_a_batch_cannot_carry_an_auth_call(db, user_client, mailoutbox):
    attempt = {
        "method": "POST",
        "url": LOGIN,
        "body": {"email": "victim@example.com", "password": "guess-1"},
    }
    response = user_client.post(BATCH, {"requests": [attempt] * 50}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"].startswith("requests.0")
    reset = {"method": "POST", "url": RESET, "body": {"email": "victim@example.com"}}
    response = user_client.post(BATCH, {"requests": [reset]}, format="json")
    assert response.status_code == 400, response.content
    assert mailoutbox == []


def test_an_anonymous_batch_is_refused(db):
    attempt = {"method": "POST", "url": LOGIN, "body": {"email": "a@example.com"}}
    response = APIClient().post(BATCH, {"requests": [attempt]}, format="json")
    assert response.status_code in (400, 401, 403), response.content
