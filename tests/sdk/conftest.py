"""Fixtures for the SDK tests: a live server, a superuser and an API key on it.

The SDKs are used from their source trees (sdk/python on sys.path, sdk/js by path), never
installed, so these tests exercise exactly what the repository holds.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
JS_SDK = ROOT / "sdk" / "js"


@pytest.fixture
def server_url(schema_db, live_server, superuser) -> str:
    """The live server's origin; collections made on it are dropped afterwards.

    `schema_db` comes first: it brings the transactional database the live server needs
    (its thread must see committed rows; on SQLite it shares the in-memory connection).
    """
    return live_server.url


@pytest.fixture
def credentials() -> tuple[str, str]:
    return ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
def service_key(schema_db) -> str:
    """A plaintext API key with the schema and record scopes."""
    from apps.accounts.apikeys import apikey_create

    _, plaintext = apikey_create(
        name="sdk test key", scopes=["schema", "records:read", "records:write"]
    )
    return plaintext


@pytest.fixture(autouse=True)
def request_threads_finish():
    """After each test (and after its clients are closed), wait for the live server's
    request threads to end.

    A keep-alive connection keeps its server thread until the client closes it; the
    thread then closes the database connection, which on SQLite is the test's own
    in-memory connection, shared only while the live server runs. Left to finish on
    their own, the last test's threads race the end of the session and fail with
    "DatabaseWrapper objects created in a thread can only be used in that same thread".
    """
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        busy = [
            t
            for t in threading.enumerate()
            if "process_request_thread" in t.name and t.is_alive()
        ]
        if not busy:
            return
        time.sleep(0.02)
