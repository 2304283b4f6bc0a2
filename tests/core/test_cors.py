"""CORS: browser apps on the origins of BAAS_CORS_ORIGINS can call the API and read its
answers, errors included; other origins get no CORS headers (apps/core/cors.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from baas.cors import LOCAL_ORIGINS, cors_policy

APP = "https://app.example.com"
OTHER = "https://evil.example.net"
RECORDS = "/api/v1/collections/users/records"


@pytest.fixture(autouse=True)
def allowed_origins(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = []
    settings.CORS_ALLOW_ALL_ORIGINS = False
    settings.CORS_ALLOW_CREDENTIALS = False


def preflight(path: str, origin: str, method: str, headers: str):
    return APIClient().options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


def listed(header: str) -> set[str]:
    return {item.strip().lower() for item in header.split(",")}


def test_a_preflight_for_a_record_patch_allows_what_clients_send():
    response = preflight(
        f"{RECORDS}/abc",
        APP,
        "PATCH",
        "authorization, content-type, idempotency-key, if-match",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert "PATCH" in listed(response["Access-Control-Allow-Methods"]) | {
        m.upper() for m in listed(response["Access-Control-Allow-Methods"])
    }
    assert {"authorization", "content-type", "idempotency-key", "if-match"} <= listed(
        response["Access-Control-Allow-Headers"]
    )
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Credentials" not in response


def test_a_preflight_for_login_is_answered_too():
    response = preflight("/api/v1/auth/login", APP, "POST", "content-type")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP


@pytest.mark.django_db
def test_a_record_read_lets_the_page_read_the_record_and_its_etag(
    app_user, user_client
):
    response = user_client.get(f"{RECORDS}/{app_user.pk}", HTTP_ORIGIN=APP)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    exposed = listed(response["Access-Control-Expose-Headers"])
    assert {"etag", "retry-after", "location", "idempotent-replayed"} <= exposed
    assert "origin" in listed(response["Vary"])


@pytest.mark.django_db
def test_a_login_from_the_page_gets_the_cors_headers(app_user):
    from tests.conftest import USER_PASSWORD

    response = APIClient().post(
        "/api/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
        HTTP_ORIGIN=APP,
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path, status",
    [
        ("post", "/api/v1/collections", 401),
        ("get", "/api/v1/collections/nothing/records", 404),
    ],
)
def test_error_answers_carry_the_cors_headers(method, path, status):
    response = getattr(APIClient(), method)(path, HTTP_ORIGIN=APP)
    assert response.status_code == status
    assert response["Access-Control-Allow-Origin"] == APP
    assert "www-authenticate" in listed(response["Access-Control-Expose-Headers"])


@pytest.mark.django_db
def test_a_rate_limited_answer_carries_the_cors_headers_and_exposes_retry_after():
    statuses = []
    for _ in range(11):  # guest sign-ins: 10 a minute per IP
        response = APIClient().post("/api/v1/auth/guest", HTTP_ORIGIN=APP)
        statuses.append(response.status_code)
    assert statuses[-1] == 429
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Retry-After"]
    assert "retry-after" in listed(response["Access-Control-Expose-Headers"])


@pytest.mark.django_db
def test_an_origin_not_in_the_list_gets_no_cors_headers(app_user, user_client):
    refused = preflight(f"{RECORDS}/abc", OTHER, "PATCH", "authorization")
    assert "Access-Control-Allow-Origin" not in refused
    assert "Access-Control-Allow-Headers" not in refused
    read = user_client.get(f"{RECORDS}/{app_user.pk}", HTTP_ORIGIN=OTHER)
    assert read.status_code == 200
    assert not [h for h in read.headers if h.lower().startswith("access-control-")]


@pytest.mark.django_db
def test_a_request_without_origin_gets_no_cors_headers(app_user, user_client):
    response = user_client.get(f"{RECORDS}/{app_user.pk}")
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control")]
    # ...but says its answer depends on Origin, for shared caches in front of the API
    assert "origin" in listed(response["Vary"])


def test_pages_outside_the_api_get_no_cors_headers():
    response = APIClient().get("/healthz", HTTP_ORIGIN=APP)
    assert "Access-Control-Allow-Origin" not in response


def test_credentials_are_allowed_for_listed_origins_when_asked(settings):
    settings.CORS_ALLOW_CREDENTIALS = True
    response = preflight(f"{RECORDS}/abc", APP, "GET", "content-type")
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Credentials"] == "true"


# --- BAAS_CORS_ORIGINS, BAAS_CORS_CREDENTIALS ---------------------------------------------


def test_the_listed_origins_are_allowed_as_browsers_spell_them(monkeypatch):
    monkeypatch.setenv(
        "BAAS_CORS_ORIGINS", " https://App.Example.com ,http://localhost:5173/"
    )
    policy = cors_policy(production=True)
    assert policy.origins == ["https://app.example.com", "http://localhost:5173"]
    assert policy.origin_regexes == []
    assert (policy.any_origin, policy.credentials) == (False, False)


@pytest.mark.parametrize(
    "value", ["app.example.com", "https://app.example.com/path", "null", "https://"]
)
def test_something_that_is_not_an_origin_is_refused_at_start_up(monkeypatch, value):
    monkeypatch.setenv("BAAS_CORS_ORIGINS", value)
    with pytest.raises(ImproperlyConfigured, match="BAAS_CORS_ORIGINS"):
        cors_policy(production=True)


def test_any_origin_is_allowed_without_credentials(monkeypatch):
    monkeypatch.setenv("BAAS_CORS_ORIGINS", "*")
    policy = cors_policy(production=True)
    assert (policy.any_origin, policy.credentials) == (True, False)


def test_any_origin_with_credentials_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("BAAS_CORS_ORIGINS", "*")
    monkeypatch.setenv("BAAS_CORS_CREDENTIALS", "true")
    with pytest.raises(ImproperlyConfigured, match="cannot be combined"):
        cors_policy(production=True)


def test_any_origin_listed_with_origins_is_refused(monkeypatch):
    monkeypatch.setenv("BAAS_CORS_ORIGINS", f"*,{APP}")
    with pytest.raises(ImproperlyConfigured, match="cannot be listed"):
        cors_policy(production=True)


def test_production_allows_no_origin_unless_told(monkeypatch):
    monkeypatch.delenv("BAAS_CORS_ORIGINS", raising=False)
    policy = cors_policy(production=True)
    assert (policy.origins, policy.origin_regexes, policy.any_origin) == ([], [], False)


def test_the_embedded_default_allows_local_development_servers(monkeypatch):
    import re

    monkeypatch.delenv("BAAS_CORS_ORIGINS", raising=False)
    policy = cors_policy(production=False)
    assert policy.origin_regexes == [LOCAL_ORIGINS]
    for origin in (
        "http://localhost:5173",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
    ):
        assert re.match(LOCAL_ORIGINS, origin), origin
    for origin in (
        "http://localhost.evil.net",
        "https://example.com",
        "http://10.0.0.1",
    ):
        assert not re.match(LOCAL_ORIGINS, origin), origin


def test_none_turns_the_embedded_default_off(monkeypatch):
    monkeypatch.setenv("BAAS_CORS_ORIGINS", "none")
    policy = cors_policy(production=False)
    assert (policy.origins, policy.origin_regexes, policy.any_origin) == ([], [], False)
