"""The served OpenAPI document passes a standard linter: Redocly CLI's recommended rules.

Redocly CLI is pinned in tests/tools/openapi-lint (package.json and its lock; scripts/test
installs it with `npm ci`). Without Node or the installed CLI these tests fail with the
command that fixes it: CI has both, so a skip would only hide a broken set-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.records.api import openapi_view
from tests.records.test_openapi import COLLECTIONS, OPENAPI

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "openapi-lint"
REDOCLY = TOOLS / "node_modules" / ".bin" / "redocly"
CONFIG = TOOLS / "redocly.yaml"

# Every field type, with the options that shape its schema.
EVERY_FIELD_TYPE = [
    {"name": "title", "type": "text", "required": True, "options": {"max": 80}},
    {"name": "code", "type": "text", "options": {"min": 2, "pattern": "^[A-Z]+$"}},
    {"name": "score", "type": "number", "options": {"min": 0, "max": 10}},
    {"name": "rank", "type": "number", "required": True, "options": {"integer": True}},
    {"name": "done", "type": "bool"},
    {"name": "confirmed", "type": "bool", "required": True},
    {"name": "contact", "type": "email", "unique": True},
    {"name": "homepage", "type": "url", "hidden": True},
    {"name": "due", "type": "date", "options": {"min": "2020-01-01T00:00:00Z"}},
    {"name": "status", "type": "select", "options": {"values": ["open", "closed"]}},
    {
        "name": "labels",
        "type": "select",
        "required": True,
        "options": {"values": ["a", "b"], "multiple": True},
    },
    {"name": "meta", "type": "json"},
    {"name": "owner", "type": "relation", "options": {"collection": "users"}},
    {
        "name": "related",
        "type": "relation",
        "options": {"collection": "notes", "multiple": True, "max_select": 3},
    },
]

# Warnings left on purpose: (rule, JSON pointer) -> why.
ACCEPTED_WARNINGS = {
    ("info-license", "#/info"): "the project has not chosen a license yet",
    (
        "operation-2xx-response",
        "#/paths/~1api~1v1~1auth~1session/delete/responses",
    ): "signing out answers 401 (no session any more), allauth's design",
    (
        "operation-4xx-response",
        "#/paths/~1healthz/get/responses",
    ): "liveness answers 200 or nothing; a wrong method is not a GET answer",
    (
        "operation-4xx-response",
        "#/paths/~1readyz/get/responses",
    ): "readiness answers 200 or 503",
    (
        "operation-4xx-response",
        "#/paths/~1api~1v1~1push~1webpush~1vapid-public-key/get/responses",
    ): "a public key for anyone: 200, or 503 when the VAPID settings are not valid",
}


@pytest.fixture(autouse=True)
def no_cached_documents():
    openapi_view.forget_documents()
    yield
    openapi_view.forget_documents()


def redocly() -> Path:
    """The pinned Redocly CLI: missing Node or packages fail the test, never skip it."""
    if shutil.which("node") is None:
        pytest.fail(
            "`node` (Node.js >= 20.19) is not on PATH; the OpenAPI lint needs it. "
            "Install Node.js (scripts/test does) and rerun."
        )
    if not REDOCLY.exists():
        pytest.fail(
            f"Redocly CLI is not installed: run `npm ci` in {TOOLS} (scripts/test does)."
        )
    return REDOCLY


def lint(document: dict, tmp_path: Path) -> list[dict]:
    """Redocly's problems with the document, each with ruleId, severity and location."""
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    env = {
        **os.environ,
        "REDOCLY_TELEMETRY": "off",  # (no calls home from the test suite)
        "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    }
    result = subprocess.run(
        [str(redocly()), "lint", str(path), "--config", str(CONFIG)]
        + ["--format", "json", "--max-problems", "10000"],
        cwd=TOOLS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        return json.loads(result.stdout)["problems"]
    except (ValueError, KeyError):
        pytest.fail(f"redocly lint gave no report:\n{result.stdout}\n{result.stderr}")


def described(problems: list[dict]) -> str:
    return "\n".join(
        f"{p['severity']} {p['ruleId']} {p['location'][0]['pointer']}: {p['message']}"
        for p in problems
    )


def assert_clean(problems: list[dict]) -> None:
    errors = [p for p in problems if p["severity"] == "error"]
    assert not errors, described(errors)
    unexpected = [
        p
        for p in problems
        if (p["ruleId"], p["location"][0]["pointer"]) not in ACCEPTED_WARNINGS
    ]
    assert not unexpected, described(unexpected)


@pytest.mark.django_db
def test_the_public_document_has_no_linter_errors(anon, tmp_path):
    response = anon.get(OPENAPI)
    assert response.status_code == 200
    assert_clean(lint(response.json(), tmp_path))


def test_the_document_with_a_collection_of_every_field_type_has_no_linter_errors(
    schema_db, admin, tmp_path
):
    response = admin.post(
        COLLECTIONS, {"name": "notes", "fields": EVERY_FIELD_TYPE}, format="json"
    )
    assert response.status_code == 201, response.content
    document = admin.get(OPENAPI).json()
    assert "notes.Record" in document["components"]["schemas"]
    assert_clean(lint(document, tmp_path))
