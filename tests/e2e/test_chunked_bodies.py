"""Bodies sent with `Transfer-Encoding: chunked` (no Content-Length) are read in full.

Many HTTP clients and proxies stream bodies this way. Each request is written on a raw
socket to a real server: `baas serve` and `baas web` (granian's WSGI interface) and
`baas realtime` (uvicorn, with a2wsgi under the ASGI application).
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.e2e import rawhttp, servers

pytestmark = pytest.mark.slow

EMAIL = "chunks@example.com"
PASSWORD = "correct-horse-battery-42"
LIMIT = 64 * 1024  # BAAS_MAX_BODY_SIZE of these servers


@pytest.fixture(scope="module", params=["serve", "web", "realtime"])
def server(request, tmp_path_factory):
    """A server of each kind on a database with a superuser and a `notes` collection."""
    data_dir = tmp_path_factory.mktemp(f"chunked-{request.param}")
    with servers.backing_services() as services:
        env = servers.server_env(data_dir, BAAS_MAX_BODY_SIZE=str(LIMIT), **services)
        created = servers.run_baas(
            "createsuperuser", "--email", EMAIL, "--password", PASSWORD, env=env
        )
        assert created.returncode == 0, created.stderr
        args = {
            "serve": ["serve", "--no-worker"],
            "web": ["web", "--host", "127.0.0.1"],
            "realtime": ["realtime", "--host", "127.0.0.1"],
        }[request.param]
        server = servers.start_server(
            args, env=env, log_dir=data_dir, name=request.param
        )
        try:
            server.wait_healthy()
            api = servers.login(server.url, EMAIL, PASSWORD)
            notes = api.post(
                "/api/v1/collections",
                {"name": "notes", "fields": [{"name": "title", "type": "text"}]},
            )
            assert notes.status_code == 201, notes.text
            yield server, api
        finally:
            server.kill()


def send_chunked(server, api, method: str, path: str, body) -> rawhttp.Response:
    return rawhttp.request(
        server.port,
        method,
        path,
        json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {api.token}",
            "Content-Type": "application/json",
        },
        chunked_body=True,
    )


def test_a_chunked_post_creates_the_record_it_carries(server):
    server, api = server
    created = send_chunked(
        server, api, "POST", "/api/v1/collections/notes/records", {"title": "streamed"}
    )
    assert created.status == 201, created.body
    stored = api.get(f"/api/v1/collections/notes/records/{created.json()['id']}")
    assert stored.json()["title"] == "streamed"


def test_a_chunked_patch_changes_the_record(server):
    server, api = server
    record = api.post("/api/v1/collections/notes/records", {"title": "before"}).json()
    path = f"/api/v1/collections/notes/records/{record['id']}"
    patched = send_chunked(server, api, "PATCH", path, {"title": "after"})
    assert patched.status == 200, patched.body
    assert patched.json()["title"] == "after"
    assert api.get(path).json()["title"] == "after"


def test_a_chunked_patch_of_a_collection_applies_its_rules(server):
    server, api = server
    anonymous = f"{server.url}/api/v1/collections/notes/records"
    assert requests.get(anonymous, timeout=10).status_code == 401
    changed = send_chunked(
        server, api, "PATCH", "/api/v1/collections/notes", {"rules": {"list": ""}}
    )
    assert changed.status == 200, changed.body
    assert changed.json()["rules"]["list"] == ""
    assert requests.get(anonymous, timeout=10).status_code == 200


def test_a_chunked_login_is_read_by_the_auth_endpoints_too(server):
    server, _ = server
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    response = rawhttp.request(
        server.port,
        "POST",
        "/api/v1/auth/login",
        body,
        headers={"Content-Type": "application/json"},
        chunked_body=True,
    )
    assert response.status == 200, response.body
    assert response.json()["meta"]["access_token"]


def test_a_chunked_body_over_the_limit_is_413_and_the_server_carries_on(server):
    server, api = server
    title = "x" * (LIMIT + 1000)
    refused = send_chunked(
        server, api, "POST", "/api/v1/collections/notes/records", {"title": title}
    )
    assert refused.status == 413
    assert refused.json()["errors"][0]["code"] == "too_large"
    listed = api.get("/api/v1/collections/notes/records?limit=500")
    assert title not in {item["title"] for item in listed.json()["items"]}
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
