"""Record payloads sent as multipart/form-data (files with other values alongside).

Other values come either in one `@jsonPayload` part holding a JSON object (PocketBase's
name; what the SDKs send, lossless) or as plain form fields, which are strings: a text
field takes the string as it is; other types take it parsed as JSON when it is valid JSON
(`3`, `true`, `["a","b"]`), else as the string, which their validation then judges. A
key repeated makes a list. Files stay uploaded-file objects for their field's writer.
"""

from __future__ import annotations

import orjson
from django.http import QueryDict
from rest_framework.exceptions import ParseError

from apps.collections.spec import CollectionSpec
from apps.core.parsers import loads_strict

JSON_PAYLOAD = "@jsonPayload"
#: types whose form values are taken as they are
TEXT_TYPES = frozenset({"text", "email", "url", "date", "select"})


def _base_name(key: str) -> str:
    return key[:-1] if key.endswith(("+", "-")) else key


def record_payload(spec: CollectionSpec, form: QueryDict) -> dict:
    """The payload a JSON body would have carried."""
    payload: dict = {}
    if not form:  # Django reads a body it cannot parse as no parts at all
        raise ParseError("The multipart body holds no parts.")
    if JSON_PAYLOAD in form:
        raw = form[JSON_PAYLOAD]
        data = loads_strict(raw.encode() if isinstance(raw, str) else raw.read())
        if not isinstance(data, dict):
            raise ParseError(f"{JSON_PAYLOAD} must hold a JSON object.")
        payload.update(data)
    types = {f.name: f.type for f in spec.fields}
    for key in form:
        if key == JSON_PAYLOAD:
            continue
        values = form.getlist(key)
        if not any(isinstance(v, str) for v in values):  # files
            payload[key] = values
            continue
        field_type = types.get(_base_name(key))
        if field_type not in TEXT_TYPES and field_type != "file":
            values = [_json_or_text(v) for v in values]
        payload[key] = values[0] if len(values) == 1 else values
    return payload


def _json_or_text(value):
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
