"""Record GETs skip DRF (apps/records/api/read_views.py): the answers, headers and
refusals are the same as on every other endpoint."""

from __future__ import annotations

import pytest

from apps.accounts.models import User

USERS = "/api/v1/collections/users/records"


@pytest.fixture
def me(db, app_user, user_client):
    return app_user, user_client


@pytest.mark.parametrize("path", [USERS, USERS + "/{id}"])
def test_reads_keep_the_security_headers_and_json(me, path):
    user, client = me
    response = client.get(path.format(id=user.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_reads_are_gzipped_when_accepted(db, admin):
    for index in range(30):
        User.objects.create_user(email=f"u{index}@example.com", password="x" * 12)
    response = admin.get(USERS, HTTP_ACCEPT_ENCODING="gzip")
    assert response["Content-Encoding"] == "gzip"
    assert admin.get(USERS).get("Content-Encoding") is None


def test_a_client_that_does_not_accept_json_gets_406_in_the_envelope(me):
    user, client = me
    response = client.get(f"{USERS}/{user.pk}", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["errors"][0]["code"] == "not_acceptable"


def test_head_answers_like_get(me):
    user, client = me
    assert client.head(f"{USERS}/{user.pk}").status_code == 200


def test_a_bad_token_is_401_with_www_authenticate(db, anon):
    anon.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for path in (USERS, f"{USERS}/x"):
        response = anon.get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
        assert response.json()["errors"][0]["code"] == "invalid_credentials"


def test_an_unknown_collection_is_404_in_the_envelope(db, anon):
    for path in (
        "/api/v1/collections/nope/records",
        "/api/v1/collections/nope/records/x",
    ):
        response = anon.get(path)
        assert response.status_code == 404
        assert response.json()["status"] == 404


def test_if_none_match_gives_304_with_the_etag(me):
    user, client = me
    first = client.get(f"{USERS}/{user.pk}")
    again = client.get(f"{USERS}/{user.pk}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again["ETag"] == first["ETag"]
    assert again.content == b""
