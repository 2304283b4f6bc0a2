"""The routes of hooks modules (`/api/v1/fn/...`) in the OpenAPI document: one operation
per `@route`, its body and answer from a serializer or type hints (apps.hooks.schema)."""

from __future__ import annotations

import inspect
import re
import typing

from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
    ref,
)
from apps.hooks.registry import registry
from apps.hooks.schema import schema_for

TAG = "functions"
_PARAM = re.compile(r"<(?:(?P<converter>[a-z_]+):)?(?P<name>\w+)>")
_CONVERTERS = {"int": {"type": "integer"}, "uuid": {"type": "string", "format": "uuid"}}
_WITH_BODY = ("POST", "PUT", "PATCH")


def _return_hint(func):
    try:
        return typing.get_type_hints(func).get("return", inspect.Signature.empty)
    except Exception:  # an annotation that does not resolve: described as anything
        return inspect.Signature.empty


def _operation(route) -> tuple[str, dict]:
    parameters = [
        {
            "name": m["name"],
            "in": "path",
            "required": True,
            "schema": _CONVERTERS.get(m["converter"] or "str", {"type": "string"}),
        }
        for m in _PARAM.finditer(route.path)
    ]
    path = "/api/v1/fn" + _PARAM.sub(lambda m: "{" + m["name"] + "}", route.path)
    doc = inspect.getdoc(route.func) or ""
    hint = route.response if route.response is not None else _return_hint(route.func)
    if hint is None or hint is type(None):
        ok = {"204": {"description": "Done."}}
    else:
        schema = {} if hint is inspect.Signature.empty else schema_for(hint)
        ok = {"200": {"description": "The result.", "content": json_content(schema)}}
    errors = [400] if route.request is not None or route.method in _WITH_BODY else []
    if route.auth != "public":
        errors += [401, 403]
    errors += [404]
    operation = {
        "operationId": "fn_" + re.sub(r"\W+", "_", route.name) + "_" + route.method,
        "summary": doc.splitlines()[0] if doc else route.name,
        "tags": [TAG],
        "security": [] if route.auth == "public" else SECURED,
        "responses": {**ok, **error_responses(*errors)},
    }
    if route.rate:
        operation["responses"]["429"] = {
            "description": f"Over the route's rate ({route.rate}).",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": json_content(ref("Error")),
        }
    if doc:
        operation["description"] = f"{doc}\n\nAccess: `{route.auth}`."
    if parameters:
        operation["parameters"] = parameters
    if route.request is not None or route.method in _WITH_BODY:
        operation["requestBody"] = {
            "required": route.request is not None,
            "content": json_content(schema_for(route.request)),
        }
    return path, operation


def add_function_paths(result, generator=None, request=None, public=None):
    """drf-spectacular postprocessing hook."""
    if not registry.routes:
        return result
    add_tag(result, TAG, "Routes served by the server's hooks modules (`@route`).")
    for route in registry.routes:
        path, operation = _operation(route)
        add_operation(result, path, route.method.lower(), operation)
    return result
