"""The OpenAPI document describes the auth endpoints as they answer.

Each test makes real requests and validates the answer against the response the served
document gives for that operation and status (apps/accounts/openapi_allauth.py corrects
allauth's own description). tests/e2e/test_api_conformance.py does the same for every
operation with generated requests; these pin the cases the issue named.
"""

from __future__ import annotations

import pytest
from openapi_schema_validator import OAS30Validator
from rest_framework.test import APIClient

from apps.records.api import openapi_view
from tests.conftest import USER_PASSWORD

OPENAPI = "/api/v1/openapi.json"
PUBLIC = [
    ("/api/v1/auth/login", "post"),
    ("/api/v1/auth/signup", "post"),
    ("/api/v1/auth/code/request", "post"),
    ("/api/v1/auth/password/request", "post"),
    ("/api/v1/tokens/refresh", "post"),
    ("/api/v1/config", "get"),
]
SIGNED_IN = [
    ("/api/v1/account/authenticators", "get"),
    ("/api/v1/account/password/change", "post"),
    ("/api/v1/auth/sessions", "get"),
    ("/api/v1/account/email", "get"),
    ("/api/v1/account", "delete"),
]


@pytest.fixture
def document(db) -> dict:
    openapi_view.forget_documents()
    response = APIClient().get(OPENAPI)
    assert response.status_code == 200
    return response.json()


def resolve(document: dict, node: dict) -> dict:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def assert_described(document: dict, path: str, method: str, response) -> dict:
    """The answer's status is documented for the operation and its body fits the schema."""
    described = document["paths"][path][method]["responses"]
    status = str(response.status_code)
    assert status in described, (status, sorted(described), response.content)
    content = resolve(document, described[status])["content"]["application/json"]
    body = response.json()
    # The document's components travel along, so `#/components/...` references resolve.
    schema = {**content["schema"], "components": document["components"]}
    errors = sorted(OAS30Validator(schema).iter_errors(body), key=str)
    assert not errors, f"{method.upper()} {path} {status}: {body}\n" + "\n".join(
        map(str, errors)
    )
    return body


def test_not_signed_in_is_a_401_without_user_as_described(document):
    body = assert_described(
        document,
        "/api/v1/auth/session",
        "get",
        APIClient().get("/api/v1/auth/session"),
    )
    assert "user" not in body["data"]
    assert body["meta"]["is_authenticated"] is False
    flows = {flow["id"]: flow for flow in body["data"]["flows"]}
    # The flow ids allauth really sends, which its own document did not list.
    assert "mfa_login_webauthn" in flows
    assert flows["password_reset_by_code"]["is_pending"] is False


def test_a_signed_in_only_operation_answers_a_stranger_as_described(document):
    for path, method in SIGNED_IN:
        response = getattr(APIClient(), method)(path)
        assert response.status_code == 401, (path, response.content)
        assert_described(document, path, method, response)


def test_reauthentication_required_is_a_401_with_user_as_described(
    document, user_client
):
    body = assert_described(
        document, "/api/v1/account", "delete", user_client.delete("/api/v1/account")
    )
    assert body["data"]["user"]["is_guest"] is False
    assert body["meta"]["is_authenticated"] is True
    assert "reauthenticate" in {flow["id"] for flow in body["data"]["flows"]}


def test_a_stale_session_token_is_a_410_as_described(document):
    response = APIClient().get("/api/v1/config", HTTP_X_SESSION_TOKEN="gone")
    body = assert_described(document, "/api/v1/config", "get", response)
    assert response.status_code == 410
    assert body["meta"]["is_authenticated"] is None


def test_a_pending_login_code_is_a_401_as_described(document, app_user):
    response = APIClient().post(
        "/api/v1/auth/code/request", {"email": app_user.email}, format="json"
    )
    body = assert_described(document, "/api/v1/auth/code/request", "post", response)
    assert {"id": "login_by_code", "is_pending": True} in body["data"]["flows"]


def test_a_sign_in_is_a_200_with_tokens_as_described(document, app_user):
    response = APIClient().post(
        "/api/v1/auth/login",
        {"email": app_user.email, "password": USER_PASSWORD},
        format="json",
    )
    body = assert_described(document, "/api/v1/auth/login", "post", response)
    assert {"access_token", "refresh_token"} <= set(body["meta"])


def test_a_rate_limited_sign_in_is_a_429_as_described(document, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "1/m/ip"}
    client = APIClient()
    body = {"email": "nobody@example.com", "password": "wrong-password-1"}
    client.post("/api/v1/auth/login", body, format="json")
    response = client.post("/api/v1/auth/login", body, format="json")
    assert response.status_code == 429
    assert_described(document, "/api/v1/auth/login", "post", response)
    described = document["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"]
    assert "Retry-After" in resolve(document, described)["headers"]


def test_a_wrong_refresh_token_is_a_401_as_described(document):
    response = APIClient().post(
        "/api/v1/tokens/refresh", {"refresh_token": "not-a-token"}, format="json"
    )
    assert_described(document, "/api/v1/tokens/refresh", "post", response)


def test_public_operations_declare_no_security_and_the_others_the_bearer(document):
    paths = document["paths"]
    for path, method in PUBLIC:
        assert paths[path][method]["security"] == [], path
    for path, method in SIGNED_IN:
        assert paths[path][method]["security"] == [{"bearer": []}], path
    session = paths["/api/v1/auth/session"]["get"]["security"]
    assert session == [{"bearer": []}, {}]  # answers with or without a sign-in
