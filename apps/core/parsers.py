"""Strict JSON parsing: valid UTF-8, bounded nesting, no NaN/Infinity, clear 400s."""

from __future__ import annotations

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


def json_depth_exceeds(value, limit: int) -> bool:
    """Iterative depth check, so hostile nesting cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def loads_strict(raw: bytes):
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"Malformed JSON: {exc.msg} at position {exc.pos}.") from None
    if json_depth_exceeds(data, settings.BAAS_MAX_JSON_DEPTH):
        raise ParseError(
            f"JSON nested deeper than {settings.BAAS_MAX_JSON_DEPTH} levels."
        )
    return data


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw:
            raise ParseError("The request body is empty.")
        return loads_strict(raw)
