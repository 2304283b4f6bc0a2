"""/api/v1/apikeys: superusers manage keys over HTTP; nobody else can, keys included."""

from __future__ import annotations

import pytest

from apps.accounts.models import ApiKey

KEYS = "/api/v1/apikeys"
SCHEMA = "/api/v1/collections"


def test_a_superuser_creates_a_key_shown_once_and_stored_hashed(db, admin):
    response = admin.post(KEYS, {"name": "ci", "scopes": ["schema"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"].startswith("bk_") and body["scopes"] == ["schema"]
    stored = ApiKey.objects.get(pk=body["id"])
    assert body["key"] not in (stored.key_hash, stored.prefix)
    listed = admin.get(KEYS).json()["items"]
    assert [k["id"] for k in listed] == [body["id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]


def test_the_new_key_works_with_its_scopes_and_records_its_last_use(db, admin, anon):
    body = admin.post(KEYS, {"name": "ci", "scopes": ["schema"]}, format="json").json()
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {body['key']}")
    assert anon.get(SCHEMA).status_code == 200
    assert admin.get(KEYS).json()["items"][0]["last_used_at"] is not None


def test_revoking_a_key_stops_it_at_once(db, admin, anon):
    body = admin.post(KEYS, {"name": "ci", "scopes": ["schema"]}, format="json").json()
    assert admin.delete(f"{KEYS}/{body['id']}").status_code == 204
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {body['key']}")
    assert anon.get(SCHEMA).status_code == 401
    assert admin.get(KEYS).json()["items"][0]["revoked_at"] is not None
    assert admin.delete(f"{KEYS}/nosuchkey").status_code == 404


def test_an_expiry_in_the_future_is_kept(db, admin):
    response = admin.post(
        KEYS,
        {"name": "ci", "scopes": ["push:send"], "expires_at": "2099-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["expires_at"].startswith("2099-01-01T00:00:00")


@pytest.mark.parametrize(
    "body, param",
    [
        ({"name": "ci", "scopes": ["root"]}, "scopes"),
        ({"name": "ci", "scopes": []}, "scopes"),
        ({"name": "ci", "scopes": "schema"}, "scopes"),
        ({"name": "", "scopes": ["schema"]}, "name"),
        ({"name": 5, "scopes": ["schema"]}, "name"),
        ({"scopes": ["schema"]}, "name"),
        (
            {"name": "ci", "scopes": ["schema"], "expires_at": "2000-01-01T00:00:00Z"},
            "expires_at",
        ),
        ({"name": "ci", "scopes": ["schema"], "expires_at": "tomorrow"}, "expires_at"),
        (
            {"name": "ci", "scopes": ["schema"], "expires_at": "2099-13-45T00:00:00Z"},
            "expires_at",
        ),
        (
            {"name": "ci", "scopes": ["schema"], "expires_at": "2099-01-01T00:00:00"},
            "expires_at",
        ),
        ({"name": "ci", "scopes": ["schema"], "admin": True}, "admin"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_creates_nothing(db, admin, body, param):
    response = admin.post(KEYS, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == param
    assert not ApiKey.objects.exists()


def test_a_non_object_body_is_400(db, admin):
    response = admin.post(KEYS, [1, 2], format="json")
    assert response.status_code == 400


def test_guests_app_users_and_keys_cannot_manage_keys(
    db, anon, user_client, key_client
):
    every_scope = key_client("records:read", "records:write", "schema", "push:send")
    key_id = ApiKey.objects.get().pk
    for client, status in [(anon, 401), (user_client, 403), (every_scope, 403)]:
        assert client.get(KEYS).status_code == status
        response = client.post(KEYS, {"name": "x", "scopes": ["schema"]}, format="json")
        assert response.status_code == status
        assert client.delete(f"{KEYS}/{key_id}").status_code == status
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None
