"""Small helpers shared by the API areas."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from baas_client.errors import BaasError


def segment(value: str) -> str:
    """Quote one path segment (a collection name or record id) for the URL."""
    return quote(str(value), safe="")


def expect_object(body: Any) -> dict[str, Any]:
    """`body` if it is a JSON object; anything else is an `invalid_response` error."""
    if not isinstance(body, dict):
        raise BaasError(
            200,
            [{"code": "invalid_response", "message": "Expected a JSON object."}],
            body=body,
        )
    return body
