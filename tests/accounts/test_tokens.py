"""Access and refresh tokens over HTTP: rotation, reuse detection, and revocation that
takes effect on the very next request."""

from __future__ import annotations

import threading

import jwt
import pytest
from django.db import close_old_connections
from rest_framework.test import APIClient

from tests.accounts.test_bearer_auth import assemble, parts
from tests.conftest import USER_PASSWORD, client_with, on_postgres

ME = "/api/v1/collections/users/records"
REFRESH = "/api/v1/tokens/refresh"


def sign_in(email: str, password: str = USER_PASSWORD, agent: str = "phone") -> dict:
    response = APIClient().post(
        "/api/v1/auth/login",
        {"email": email, "password": password},
        format="json",
        HTTP_USER_AGENT=agent,
    )
    assert response.status_code == 200, response.content
    return response.json()["meta"]


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh_token": token}, format="json")


def works(access_token: str) -> bool:
    status = client_with(access_token).get(ME).status_code
    assert status in (200, 401), status
    return status == 200


def test_login_gives_a_short_access_token_and_a_refresh_token(db, app_user):
    meta = sign_in(app_user.email)
    _, claims, _ = parts(meta["access_token"])
    assert claims["exp"] - claims["iat"] <= 900
    assert claims["aud"] == "baas:app"
    assert meta["refresh_token"] and works(meta["access_token"])


def test_a_refresh_rotates_the_refresh_token(db, app_user):
    meta = sign_in(app_user.email)
    response = refresh(meta["refresh_token"])
    assert response.status_code == 200, response.content
    fresh = response.json()["data"]
    assert fresh["refresh_token"] != meta["refresh_token"]
    assert works(fresh["access_token"])
    assert refresh(fresh["refresh_token"]).status_code == 200


def test_reusing_a_spent_refresh_token_revokes_the_whole_chain(db, app_user):
    meta = sign_in(app_user.email)
    fresh = refresh(meta["refresh_token"]).json()["data"]
    reused = refresh(meta["refresh_token"])
    assert reused.status_code == 401
    assert reused.json()["errors"][0]["code"] == "invalid_token"
    # The thief's and the owner's newer tokens are dead too, access tokens at once.
    assert refresh(fresh["refresh_token"]).status_code == 401
    assert not works(fresh["access_token"])
    assert not works(meta["access_token"])


def test_reuse_ends_only_that_device(db, app_user):
    phone = sign_in(app_user.email, agent="phone")
    laptop = sign_in(app_user.email, agent="laptop")
    refresh(phone["refresh_token"])
    refresh(phone["refresh_token"])
    assert works(laptop["access_token"])
    assert refresh(laptop["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "Bearer x"])
def test_a_garbage_refresh_token_is_refused(db, token):
    assert refresh(token).status_code in (400, 401)


def test_an_access_token_is_not_a_refresh_token(db, app_user):
    meta = sign_in(app_user.email)
    assert refresh(meta["access_token"]).status_code == 401


def test_an_access_token_for_another_audience_is_401(db, app_user, settings):
    meta = sign_in(app_user.email)
    header, claims, _ = parts(meta["access_token"])
    claims["aud"] = "someone-else"
    from allauth.headless.tokens.strategies.jwt.internal import _get_jwt_config

    config = _get_jwt_config()
    forged = jwt.encode(claims, config.signing_key, algorithm="RS256", headers=header)
    assert not works(forged)
    del claims["aud"]
    assert not works(
        jwt.encode(claims, config.signing_key, algorithm="RS256", headers=header)
    )


def test_an_edited_refresh_token_is_refused(db, app_user):
    meta = sign_in(app_user.email)
    header, claims, signature = parts(meta["refresh_token"])
    claims["exp"] += 3600
    assert refresh(assemble(header, claims, signature)).status_code == 401


def test_logout_ends_the_session_at_once(db, app_user):
    meta = sign_in(app_user.email)
    client = client_with(meta["access_token"])
    assert (
        client.delete("/api/v1/auth/session").status_code == 401
    )  # allauth: logged out
    assert not works(meta["access_token"])
    assert refresh(meta["refresh_token"]).status_code == 401


def test_deactivation_ends_every_session(db, app_user):
    meta = sign_in(app_user.email)
    app_user.is_active = False
    app_user.save()
    assert not works(meta["access_token"])
    assert refresh(meta["refresh_token"]).status_code == 401
    app_user.is_active = True
    app_user.save()
    assert refresh(meta["refresh_token"]).status_code == 401  # still ended


def test_a_new_password_ends_every_other_session(db, app_user):
    phone = sign_in(app_user.email, agent="phone")
    laptop = sign_in(app_user.email, agent="laptop")
    response = client_with(phone["access_token"]).post(
        "/api/v1/account/password/change",
        {"current_password": USER_PASSWORD, "new_password": "An-0ther-passphrase"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert not works(laptop["access_token"])
    assert refresh(laptop["refresh_token"]).status_code == 401


def test_a_password_set_outside_the_api_ends_every_session(db, app_user):
    meta = sign_in(app_user.email)
    app_user.set_password("Changed-by-an-operator-1")
    app_user.save()
    assert not works(meta["access_token"])
    assert refresh(meta["refresh_token"]).status_code == 401


CONCURRENT = 20


@on_postgres  # (SQLite: tests/e2e, against a served file database)
def test_twenty_concurrent_refreshes_with_one_token_let_at_most_one_through(
    transactional_db, app_user
):
    """A stolen refresh token raced against its owner: at most one refresh wins, and
    since the others are reuse, the chain ends, the winner's new tokens included."""
    meta = sign_in(app_user.email)
    barrier = threading.Barrier(CONCURRENT)
    results: list = [None] * CONCURRENT

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            results[index] = refresh(meta["refresh_token"])
        finally:
            close_old_connections()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) <= 1, statuses
    assert set(statuses) <= {200, 401}, statuses
    winners = [r.json()["data"] for r in results if r.status_code == 200]
    for pair in winners:
        assert refresh(pair["refresh_token"]).status_code == 401
        assert not works(pair["access_token"])
    assert not works(meta["access_token"])
