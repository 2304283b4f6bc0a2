"""Fast JSON rendering with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.renderers import BaseRenderer

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data, option=OPTIONS)
    except TypeError:
        # PostgreSQL's jsonb prints a stored 1e308 as 309 digits, which read back as a
        # Python int beyond orjson's 64-bit range: render such integers as the float sent.
        return orjson.dumps(_big_ints_as_floats(data), option=OPTIONS)


def _big_ints_as_floats(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value) if not -(2**63) <= value < 2**64 else value
    if isinstance(value, dict):
        return {k: _big_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_big_ints_as_floats(v) for v in value]
    return value


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return dumps(data)
