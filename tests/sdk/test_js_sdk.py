"""The JavaScript SDK (sdk/js) against a real server: its own node:test suite, run by Node."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

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


def test_js_sdk_suite_passes_against_a_live_server(
    server_url, credentials, service_key
):
    node = node_binary()
    email, password = credentials
    env = {
        **os.environ,
        "BAAS_URL": server_url,
        "BAAS_EMAIL": email,
        "BAAS_PASSWORD": password,
        "BAAS_API_KEY": service_key,
        "NO_COLOR": "1",
    }
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(JS_SDK / "test") + "/"],
        check=False,
        cwd=ROOT,
        env=env,
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
