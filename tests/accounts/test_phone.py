"""Phone numbers are not supported yet (no SMS sender): allauth's phone endpoints are not
served, so they answer 404 in the error envelope, never 500, and the API description
does not list them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.conftest import client_with, login

PHONE_PATHS = ["account/phone", "auth/phone/verify", "auth/phone/verify/resend"]
PREFIXES = ["/api/v1/", "/api/browser/v1/"]


@pytest.fixture
def signed_in(app_user) -> APIClient:
    return client_with(login(app_user.email, "UserPass123!"))


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("path", PHONE_PATHS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_phone_endpoints_are_404_in_the_envelope(
    db, signed_in, prefix, path, method
):
    call = getattr(signed_in, method)
    response = call(prefix + path, {"phone": "+15555550100"}, format="json")
    assert response.status_code == 404, response.content
    body = response.json()
    assert body["status"] == 404
    assert [error["code"] for error in body["errors"]] == ["not_found"]


def test_the_api_description_has_no_phone_endpoint(db):
    paths = APIClient().get("/api/v1/openapi.json").json()["paths"]
    assert [path for path in paths if "phone" in path] == []
    # ... while the email endpoints beside them are still described.
    assert "/api/v1/account/email" in paths
    assert "/api/v1/auth/email/verify" in paths
