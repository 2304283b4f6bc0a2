"""Record routes are answered by RecordRoutesMiddleware, ahead of the cookie-session
middleware and Django's URL resolving: the same views with the same arguments as urls.py."""

from __future__ import annotations

import pytest
from django.urls import Resolver404, resolve

from apps.records.api import record_routes

RECORDS = "/api/v1/collections/posts/records"


@pytest.mark.parametrize(
    "path",
    [
        RECORDS,
        RECORDS + "/abc123",
        "/api/v1/collections/Posts_2/records/x.y-z",
        "/api/v1/collections/%C3%A9t%C3%A9/records",
        "/api/v1/collections/été/records/été",
        "/api/v1/collections/users/records/a b",
    ],
)
def test_the_middleware_routes_as_the_url_conf_does(path):
    resolved = resolve(path)
    assert record_routes.match(path) == (resolved.func, resolved.kwargs)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/collections",
        "/api/v1/collections/posts",
        "/api/v1/collections/posts/changes",
        RECORDS + "/",
        RECORDS + "/a/b",
        RECORDS + "x",
        "/api/v1/collections//records",
        "/api/v2/collections/posts/records",
        "/prefix/api/v1/collections/posts/records",
    ],
)
def test_other_paths_are_left_to_the_url_conf(path):
    assert record_routes.match(path) is None
    try:
        func = resolve(path).func
    except Resolver404:
        return
    assert func not in {view for _, view in record_routes._ROUTES}


def test_a_record_answer_sets_no_cookie_and_keeps_the_api_headers(
    db, app_user, user_client
):
    response = user_client.get(f"/api/v1/collections/users/records/{app_user.pk}")
    assert response.status_code == 200
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_a_refused_write_is_rendered_in_the_envelope(db, user_client):
    """DRF's responses (other methods) are rendered here, as Django's handler would."""
    response = user_client.post(
        "/api/v1/collections/nope/records", {"a": 1}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "collection_not_found"
