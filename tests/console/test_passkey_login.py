"""A superuser with a passkey signs in to the console in Chromium: the passkey is
registered over the API (a software authenticator's key), then handed to Chromium's
virtual authenticator (DevTools protocol), so the page's own WebAuthn ceremony runs.
WebAuthn needs a domain, not an IP address: the page is opened at localhost."""

from __future__ import annotations

import base64

import requests
from cryptography.hazmat.primitives import serialization

from tests.accounts.webauthn_authenticator import SoftwareAuthenticator
from tests.console.conftest import Console
from tests.e2e import servers

EMAIL = "passkey-owner@example.com"
PASSWORD = "a long passkey owner password"


def _register_passkey(base_url: str, env: dict) -> SoftwareAuthenticator:
    made = servers.run_baas(
        "createsuperuser", "--email", EMAIL, "--password", PASSWORD, env=env
    )
    assert made.returncode == 0, made.stderr
    api = servers.login(base_url, EMAIL, PASSWORD)
    assert api.post("/api/v1/auth/reauthenticate", {"password": PASSWORD}).ok
    options = api.get("/api/v1/account/authenticators/webauthn")
    assert options.status_code == 200, options.text
    device = SoftwareAuthenticator(origin=base_url)
    credential = device.create(options.json()["data"]["creation_options"])
    added = api.post(
        "/api/v1/account/authenticators/webauthn",
        {"name": "Laptop", "credential": credential},
    )
    assert added.status_code == 200, added.text
    return device


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_superuser_signs_in_with_a_passkey(browser_context, console_server):
    url, env = console_server
    base_url = url.replace("127.0.0.1", "localhost")
    device = _register_passkey(base_url, env)
    page = browser_context.new_page()
    cdp = browser_context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    key = device.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cdp.send(
        "WebAuthn.addCredential",
        {
            "authenticatorId": authenticator,
            "credential": {
                "credentialId": _b64(device.credential_id),
                "isResidentCredential": False,
                "rpId": "localhost",
                "privateKey": _b64(key),
                "signCount": 1,
            },
        },
    )
    console = Console(page, base_url)
    console.sign_in(EMAIL, PASSWORD)
    assert "/console/login/mfa/" in page.url
    assert page.locator("#code").count() == 0  # no authenticator app: passkey only
    assert console.axe() == []
    console.screenshot("sign-in-passkey")
    page.click("[data-passkey-login]")
    page.wait_for_url(f"{base_url}/console/")
    assert page.locator("h1").inner_text() == "Overview"
    assert console.errors == []
    # The password alone never opens it.
    other = browser_context.new_page()
    other.context.clear_cookies()
    alone = Console(other, base_url)
    alone.sign_in(EMAIL, PASSWORD)
    alone.goto("/console/")
    assert "/console/login/" in other.url
    assert requests.get(f"{base_url}/healthz", timeout=10).ok
