"""Every error under /api/ leaves in the envelope of API.md, whoever produced it."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_malformed_json_to_an_auth_endpoint_gets_the_envelope():
    response = Client().post(
        "/api/v1/auth/login", data="garbage", content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == 400
    assert body["errors"][0]["code"] == "bad_request"


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404():
    response = Client().get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "errors": [{"code": "not_found", "message": "Not found."}],
    }


@pytest.mark.django_db
def test_wrong_method_on_collections_is_405_in_the_envelope(admin):
    response = admin.put("/api/v1/collections", {}, format="json")
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_error_bodies_never_carry_tracebacks_or_sql(admin):
    response = admin.post(
        "/api/v1/collections", data=b"{", content_type="application/json"
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Traceback" not in text and "SELECT" not in text


@pytest.mark.django_db
def test_auth_errors_without_an_errors_list_get_one():
    response = Client().post(
        "/api/v1/tokens/refresh",
        data={"refresh_token": "garbage"},
        content_type="application/json",
    )
    assert 400 <= response.status_code < 500
    body = response.json()
    assert body["status"] == response.status_code
    assert body["errors"] and body["errors"][0]["code"]
