"""The browsable API docs at /api/docs work offline: every asset comes from our own server."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.test import Client

ASSET = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')


def assets_of(html: str) -> list[str]:
    return ASSET.findall(html)


def body_of(response) -> bytes:
    return (
        b"".join(response.streaming_content) if response.streaming else response.content
    )


def start_up_script(client: Client, html: str) -> str:
    """The page's own script (/api/docs?script), the one asset that is not a file."""
    (url,) = [a for a in assets_of(html) if a.startswith("/api/docs?")]
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"].startswith("application/javascript")
    return response.content.decode()


def test_docs_page_is_html_whose_script_loads_our_openapi_document():
    client = Client()
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    script = start_up_script(client, response.content.decode())
    assert "/api/v1/openapi.json" in script
    # "Authorize" reloads the document with the bearer token, so keys see their collections.
    assert re.search(r'schemaAuthNames = \[\s*"bearer"\s*\]', script)


def test_docs_page_has_a_strict_content_security_policy_and_no_inline_code():
    response = Client().get("/api/docs")
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    html = response.content.decode()
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    assert not re.search(r"\son[a-z]+=", html), "an inline event handler"


@pytest.mark.django_db
def test_the_console_has_a_strict_content_security_policy(superuser):
    """Its sign-in page and every page of its navigation: the policy, and nothing in the
    HTML that the policy would block (inline scripts, style attributes, on* handlers)."""
    from admin_ui.nav import entries
    from tests.console.conftest import console_session

    pages = [(Client(), "/console/login/")]
    client = console_session(superuser)
    pages += [(client, "/console/")] + [(client, item["url"]) for item in entries()]
    for visitor, path in pages:
        response = visitor.get(path)
        assert response.status_code == 200, path
        policy = directives(response["Content-Security-Policy"])
        assert policy["default-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"<style", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


def directives(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: [sources]}."""
    parts = [item.split() for item in header.split(";") if item.strip()]
    return {name: sources for name, *sources in parts}


def test_docs_assets_are_served_by_our_own_server():
    client = Client()
    html = client.get("/api/docs").content.decode()
    assets = assets_of(html)
    assert any(a.endswith(".js") for a in assets) and any(
        a.endswith(".css") for a in assets
    )
    for url in assets:
        assert url.startswith("/"), f"{url} is not served by us"
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(body_of(response)) > 0, url
    # No URL of the page names a CDN host (the page also carries a random CSRF token,
    # which may spell "cdn" by chance: only hosts are looked at).
    hosts = re.findall(r"(?:https?:)?//([a-z0-9.-]+)", html.lower())
    assert not [h for h in hosts if any(c in h for c in ("cdn", "unpkg", "jsdelivr"))]


def test_docs_page_ignores_a_bad_bearer_token():
    response = Client(HTTP_AUTHORIZATION="Bearer nonsense").get("/api/docs")
    assert response.status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_docs_and_assets_under_uvicorn_without_collectstatic(tmp_path):
    """What `baas serve` runs: uvicorn with baas.asgi, DEBUG off, no collected static files."""
    port = _free_port()
    env = {**os.environ, "BAAS_DATA_DIR": str(tmp_path), "BAAS_DEBUG": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "baas.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = requests.get(f"{base}/api/docs", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read().decode()
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        assert page.status_code == 200
        assert not (tmp_path / "static").exists()
        for url in assets_of(page.text):
            asset = requests.get(base + url, timeout=10)
            assert asset.status_code == 200, url
            assert asset.content
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
