"""Fixtures for the SDK tests: a live server, a superuser and an API key on it.

The SDKs are used from their source trees (sdk/python on sys.path, sdk/js by path), never
installed, so these tests exercise exactly what the repository holds.
"""

from __future__ import annotations

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
