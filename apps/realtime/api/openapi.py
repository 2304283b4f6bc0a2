"""The realtime endpoints in the OpenAPI document: channel configuration and the
server-sent-events stream (plain APIViews and an ASGI app: described here). The
WebSocket protocol is in docs/realtime.md; OpenAPI has no words for it."""

from __future__ import annotations

from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
)

TAG = "realtime"
STRING = {"type": "string"}
NAME = {
    "type": "string",
    "pattern": r"^([A-Za-z0-9_.:-]{1,99}\*?|\*)$",
    "maxLength": 100,
    "description": "Exact, or a prefix ending in `*` (`room-*`).",
}
RULE = {"type": "string", "nullable": True, "description": "`null`: superusers only."}
RULES = {
    "type": "object",
    "properties": {"subscribe": RULE, "publish": RULE},
    "additionalProperties": False,
}
CHANNEL = {
    "type": "object",
    "properties": {
        "name": NAME,
        "rules": RULES,
        "presence": {"type": "boolean"},
        "created": {"type": "string", "format": "date-time"},
        "updated": {"type": "string", "format": "date-time"},
    },
    "required": ["name", "rules", "presence", "created", "updated"],
}
CHANNEL_INPUT = {
    "type": "object",
    "properties": {"name": NAME, "rules": RULES, "presence": {"type": "boolean"}},
    "additionalProperties": False,
}
NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": NAME,
    "description": "The channel configuration's name.",
}


def _channel_operations() -> dict[str, dict]:
    base = {"tags": [TAG], "security": SECURED}
    one = {"description": "The channel.", "content": json_content(CHANNEL)}
    return {
        "list": {
            **base,
            "operationId": "channels_list",
            "summary": "Channel configurations",
            "responses": {
                "200": {
                    "description": "Every configuration.",
                    "content": json_content(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": CHANNEL}
                            },
                            "required": ["items"],
                        }
                    ),
                },
                **error_responses(401, 403),
            },
        },
        "create": {
            **base,
            "operationId": "channels_create",
            "summary": "Configure a channel (or a family: `room-*`)",
            "requestBody": {
                "required": True,
                "content": json_content({**CHANNEL_INPUT, "required": ["name"]}),
            },
            "responses": {"201": one, **error_responses(400, 401, 403, 409, 415)},
        },
        "get": {
            **base,
            "operationId": "channels_get",
            "summary": "One channel configuration",
            "parameters": [NAME_PARAMETER],
            "responses": {"200": one, **error_responses(401, 403, 404)},
        },
        "update": {
            **base,
            "operationId": "channels_update",
            "summary": "Change a channel configuration",
            "parameters": [NAME_PARAMETER],
            "requestBody": {"required": True, "content": json_content(CHANNEL_INPUT)},
            "responses": {
                "200": one,
                **error_responses(400, 401, 403, 404, 409, 415),
            },
        },
        "delete": {
            **base,
            "operationId": "channels_delete",
            "summary": "Remove a channel configuration",
            "parameters": [NAME_PARAMETER],
            "responses": {
                "204": {"description": "Removed."},
                **error_responses(401, 403, 404),
            },
        },
    }


def _sse() -> dict:
    return {
        "operationId": "realtime_sse",
        "summary": "Server-sent events: record changes as they happen",
        "description": "For clients that cannot open the WebSocket at `/api/v1/realtime` "
        "(docs/realtime.md). Each event is `id: <change token>` and `data: <event frame>`; "
        "`Last-Event-ID` resumes after a token.",
        "tags": [TAG],
        "security": [{}, *SECURED],
        "parameters": [
            {
                "name": "topics",
                "in": "query",
                "required": True,
                "schema": STRING,
                "description": "Comma-separated: `posts`, `posts/<record id>`.",
            },
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": STRING,
                "description": "Resume after this change token.",
            },
        ],
        "responses": {
            "200": {
                "description": "The event stream (it does not end by itself).",
                "content": {"text/event-stream": {"schema": STRING}},
            },
            "410": {
                "description": "`Last-Event-ID` is older than the change log keeps.",
                "content": json_content({"$ref": "#/components/schemas/Error"}),
            },
            **error_responses(400, 401, 403, 404),
        },
    }


def add_realtime_paths(result, generator, request, public):
    """POSTPROCESSING_HOOK: /api/v1/channels and /api/v1/realtime/sse."""
    add_tag(result, TAG, "Channel configuration and the server-sent-events stream.")
    ops = _channel_operations()
    add_operation(result, "/api/v1/channels", "get", ops["list"])
    add_operation(result, "/api/v1/channels", "post", ops["create"])
    add_operation(result, "/api/v1/channels/{name}", "get", ops["get"])
    add_operation(result, "/api/v1/channels/{name}", "patch", ops["update"])
    add_operation(result, "/api/v1/channels/{name}", "delete", ops["delete"])
    add_operation(result, "/api/v1/realtime/sse", "get", _sse())
    return result
