"""The JavaScript SDK (sdk/js) against a real server: its own node:test suite, run by Node."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import USER_PASSWORD
from tests.sdk.conftest import JS_SDK, ROOT

NODE_MIN_MAJOR = 18


def node_binary() -> str:
    """The `node` executable; its absence is a failure (CI has Node), never a skip."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"`node` (Node.js >= {NODE_MIN_MAJOR}) is not on PATH; the JavaScript SDK "
            "tests need it. Install Node.js (e.g. `apt-get install nodejs`) and rerun.",
            pytrace=False,
        )
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if match is None or int(match.group(1)) < NODE_MIN_MAJOR:
        pytest.fail(
            f"Node.js >= {NODE_MIN_MAJOR} is needed, found {version!r}.", pytrace=False
        )
    return node


USER_EMAIL = "js.user@example.com"
MFA_EMAIL = "js.mfa@example.com"
# Guests, account export and deletion: endpoints of their own (see account.test.mjs).
ACCOUNT_SUITE = "account.test.mjs"
# File fields, downloads, thumbnails and file tokens (see files-live.test.mjs).
FILES_SUITE = "files-live.test.mjs"
# Realtime needs a WebSocket server: `baas serve`, in test_js_sdk_realtime.py.
REALTIME_SUITE = "realtime-live.test.mjs"


@pytest.fixture
def mail_dir(settings, tmp_path) -> Path:
    """Mail as files, one per message in send order, where Node reads the codes (the
    live server runs in this process, so the setting applies to it)."""
    settings.EMAIL_BACKEND = "tests.sdk.mailbox.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail"


@pytest.fixture
def app_users(schema_db, make_user) -> dict[str, str]:
    """A verified app user and one with an authenticator app (its TOTP secret)."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    make_user(USER_EMAIL, USER_PASSWORD)
    secret = generate_totp_secret()
    TOTP.activate(make_user(MFA_EMAIL, USER_PASSWORD), secret)
    return {
        "BAAS_USER_EMAIL": USER_EMAIL,
        "BAAS_USER_PASSWORD": USER_PASSWORD,
        "BAAS_MFA_EMAIL": MFA_EMAIL,
        "BAAS_MFA_SECRET": secret,
    }


def run_node_suite(
    files: list[Path], env: dict[str, str], node_options: Sequence[str] = ()
) -> None:
    node = node_binary()
    result = subprocess.run(
        [node, *node_options, "--test", "--test-reporter=tap", *map(str, files)],
        check=False,
        cwd=ROOT,
        env={**os.environ, **env, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, (
        f"node --test failed (exit {result.returncode}):\n{output[-20000:]}"
    )
    # A suite that skipped its live part would pass without testing the server.
    assert "# SKIP" not in result.stdout, output[-20000:]
    assert re.search(r"^# pass [1-9]", result.stdout, re.MULTILINE), output[-20000:]
    assert re.search(r"^# fail 0$", result.stdout, re.MULTILINE), output[-20000:]


@pytest.fixture
def echo_route():
    """A hooks route on the live server (`client.fn`): it runs in this process."""
    from apps.hooks import registry
    from baas.hooks import route

    with registry.isolated():

        @route("POST", "/echo/<str:word>", auth="user")
        def echo(request, word):
            return {"you": request.user.email, "word": word, "body": request.data}

        yield


@pytest.fixture
def node_env(server_url, credentials, service_key, mail_dir, app_users, echo_route):
    email, password = credentials
    return {
        "BAAS_URL": server_url,
        "BAAS_EMAIL": email,
        "BAAS_PASSWORD": password,
        "BAAS_API_KEY": service_key,
        "BAAS_MAIL_DIR": str(mail_dir),
        # Direct uploads work on S3-compatible storage only (the PostgreSQL profile).
        "BAAS_DIRECT_UPLOADS": "1" if settings.BAAS_S3_BUCKET else "",
        **app_users,
    }


def test_js_sdk_suite_passes_against_a_live_server(node_env):
    files = sorted(
        p
        for p in (JS_SDK / "test").glob("*.test.mjs")
        if p.name not in (ACCOUNT_SUITE, FILES_SUITE, REALTIME_SUITE)
    )
    run_node_suite(files, node_env)


def test_js_sdk_guest_and_account_calls_pass_against_a_live_server(node_env):
    run_node_suite([JS_SDK / "test" / ACCOUNT_SUITE], node_env)


def test_js_sdk_files_pass_against_a_live_server(node_env):
    run_node_suite([JS_SDK / "test" / FILES_SUITE], node_env)
