"""The push endpoints in the OpenAPI document (plain APIViews: described here)."""

from __future__ import annotations

from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
    ref,
)
from apps.core.paging import MAX_LIMIT
from apps.push.messages import COUNTED, MAX_TTL

TAG = "push"
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {**TIME, "nullable": True}
TEXT = {"type": "string"}
KEYS = {
    "type": "object",
    "properties": {"p256dh": TEXT, "auth": TEXT},
    "required": ["p256dh", "auth"],
}
SUBSCRIPTION = {
    "type": "object",
    "description": "The browser's PushSubscription (its toJSON()); the endpoint's "
    "host must be in BAAS_WEBPUSH_ALLOWED_HOSTS.",
    "properties": {"endpoint": {"type": "string", "format": "uri"}, "keys": KEYS},
    "required": ["endpoint", "keys"],
}
TOPICS = {"type": "array", "items": TEXT, "maxItems": 100}
DEVICE = {
    "type": "object",
    "properties": {
        "id": TEXT,
        "platform": {"type": "string", "enum": ["fcm", "apns", "webpush"]},
        "token": {**TEXT, "description": "FCM or APNs token (not for webpush)."},
        "subscription": SUBSCRIPTION,
        "topics": TOPICS,
        "app_version": TEXT,
        "locale": TEXT,
        "timezone": TEXT,
        "active": {"type": "boolean"},
        "created": TIME,
        "updated": TIME,
    },
    "required": ["id", "platform", "topics", "active", "created", "updated"],
}
REGISTER = {
    "type": "object",
    "properties": {
        "platform": {"type": "string", "enum": ["fcm", "apns", "webpush"]},
        "token": {
            "type": "string",
            "description": "FCM registration token, or APNs device token (hex).",
        },
        "subscription": SUBSCRIPTION,
        "topics": TOPICS,
        "app_version": {"type": "string", "maxLength": 50},
        "locale": {"type": "string", "maxLength": 35},
        "timezone": {
            "type": "string",
            "description": "IANA time zone (for send_at.local).",
        },
    },
    "required": ["platform"],
    "additionalProperties": False,
}
TO = {
    "type": "object",
    "description": "Exactly one of users, topic, devices, filter (an expression over "
    "the users collection).",
    "properties": {
        "users": {"type": "array", "items": TEXT, "minItems": 1},
        "devices": {"type": "array", "items": TEXT, "minItems": 1},
        "topic": TEXT,
        "filter": TEXT,
    },
    "minProperties": 1,
    "maxProperties": 1,
}
NOTIFICATION = {
    "type": "object",
    "properties": {
        "title": TEXT,
        "body": TEXT,
        "image": {"type": "string", "format": "uri"},
        "badge": {"type": "integer", "minimum": 0},
        "sound": TEXT,
    },
    "additionalProperties": False,
}
DATA = {"type": "object", "additionalProperties": {"type": "string"}}
SEND_AT = {
    "description": 'An RFC 3339 time, or {"local": "HH:MM"}: that time in each '
    "device's time zone.",
    "oneOf": [
        {"type": "string", "format": "date-time"},
        {
            "type": "object",
            "properties": {"local": {"type": "string", "pattern": "^\\d\\d:\\d\\d$"}},
            "required": ["local"],
        },
    ],
}
OPTIONS = {
    "ttl": {"type": "integer", "minimum": 0, "maximum": MAX_TTL},
    "collapse_key": {"type": "string", "maxLength": 64},
    "priority": {"type": "string", "enum": ["high", "normal"]},
    "overrides": {
        "type": "object",
        "description": "Per platform (fcm, apns, webpush): merged over the payload.",
        "properties": {
            "fcm": {"type": "object"},
            "apns": {"type": "object"},
            "webpush": {"type": "object"},
        },
        "additionalProperties": False,
    },
}
SEND = {
    "type": "object",
    "properties": {
        "to": TO,
        "notification": NOTIFICATION,
        "data": DATA,
        "send_at": SEND_AT,
        **OPTIONS,
    },
    "required": ["to"],
    "additionalProperties": False,
}
COUNTS = {
    "type": "object",
    "properties": {state: {"type": "integer"} for state in COUNTED},
    "required": list(COUNTED),
}
RESULT = {
    "type": "object",
    "properties": {
        "id": TEXT,
        "device": {**TEXT, "nullable": True},
        "user": TEXT,
        "platform": TEXT,
        "state": {"type": "string", "enum": list(COUNTED)},
        "reason": TEXT,
        "provider_id": TEXT,
        "attempts": {"type": "integer"},
        "due": NULLABLE_TIME,
        "sent_at": NULLABLE_TIME,
        "opened_at": NULLABLE_TIME,
    },
    "required": ["id", "platform", "state", "attempts"],
}
MESSAGE = {
    "type": "object",
    "properties": {
        "id": TEXT,
        "state": {
            "type": "string",
            "enum": ["scheduled", "sending", "done", "cancelled"],
        },
        "to": TO,
        "notification": {"type": "object"},
        "data": DATA,
        **OPTIONS,
        "send_at": {
            **SEND_AT,
            "oneOf": [{**SEND_AT["oneOf"][0], "nullable": True}, SEND_AT["oneOf"][1]],
        },
        "created_by": TEXT,
        "created": TIME,
        "started": NULLABLE_TIME,
        "finished": NULLABLE_TIME,
        "total": {"type": "integer"},
        "counts": COUNTS,
    },
    "required": ["id", "state", "to", "created", "total"],
}
DETAIL = {
    **MESSAGE,
    "properties": {
        **MESSAGE["properties"],
        "results": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": RESULT},
                "next_cursor": {"type": "string", "nullable": True},
            },
            "required": ["items", "next_cursor"],
        },
    },
    "required": [*MESSAGE["required"], "counts", "results"],
}
TOPIC_RULE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "A topic, a prefix (`news-*`) or *."},
        "rule": {"type": "string", "nullable": True},
        "created": TIME,
        "updated": TIME,
    },
    "required": ["name", "rule"],
}
TOPIC_RULE_INPUT = {
    "type": "object",
    "properties": {"name": TEXT, "rule": {"type": "string", "nullable": True}},
    "additionalProperties": False,
}
SUBSCRIBED = {
    "type": "object",
    "properties": {
        "topic": TEXT,
        "devices": {"type": "array", "items": TEXT},
        "subscribed": {"type": "boolean"},
    },
    "required": ["topic", "devices", "subscribed"],
}
SUBSCRIBE_INPUT = {
    "type": "object",
    "properties": {"devices": {"type": "array", "items": TEXT}},
    "additionalProperties": False,
}


def _path(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


PAGE_PARAMS = [
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        "Rows per page (default 50).",
    ),
    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
]


def _op(op_id, summary, responses, *, params=(), body=None, required=True) -> dict:
    operation = {
        "tags": [TAG],
        "security": SECURED,
        "operationId": op_id,
        "summary": summary,
        "responses": responses,
    }
    if params:
        operation["parameters"] = list(params)
    if body is not None:
        operation["requestBody"] = {"required": required, "content": json_content(body)}
    return operation


def _ok(description: str, schema: dict) -> dict:
    return {"description": description, "content": json_content(schema)}


def _items(schema: dict) -> dict:
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": schema}},
        "required": ["items"],
    }


def _operations() -> list[tuple[str, str, dict]]:
    device_id = _path("device_id", "The device's id.")
    message_id = _path("message_id", "The message's id.")
    topic = _path("topic", "A topic name.")
    name = _path("name", "A topic rule's name.")
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": MESSAGE},
            "next_cursor": {"type": "string", "nullable": True},
        },
        "required": ["items", "next_cursor"],
    }
    vapid = _op(
        "push_vapid_public_key",
        "The VAPID public key (applicationServerKey for browser subscriptions)",
        {
            "200": _ok(
                "The key, base64url.",
                {
                    "type": "object",
                    "properties": {"public_key": TEXT},
                    "required": ["public_key"],
                },
            ),
            "503": {
                "description": "The VAPID settings are not valid.",
                "content": json_content(ref("Error")),
            },
        },
    )
    vapid["security"] = []
    return [
        (
            "/api/v1/push/devices",
            "get",
            _op(
                "push_devices_list",
                "The signed-in user's devices",
                {"200": _ok("Devices.", _items(DEVICE)), **error_responses(401, 403)},
            ),
        ),
        (
            "/api/v1/push/devices",
            "post",
            _op(
                "push_devices_register",
                "Register a device (201), or update the one with this token (200)",
                {
                    "200": _ok("Updated.", DEVICE),
                    "201": _ok("Registered.", DEVICE),
                    **error_responses(400, 401, 403, 415),
                },
                body=REGISTER,
            ),
        ),
        (
            "/api/v1/push/devices/{device_id}",
            "get",
            _op(
                "push_devices_get",
                "One of the user's devices",
                {"200": _ok("The device.", DEVICE), **error_responses(401, 403, 404)},
                params=[device_id],
            ),
        ),
        (
            "/api/v1/push/devices/{device_id}",
            "delete",
            _op(
                "push_devices_delete",
                "Unregister one of the user's devices",
                {
                    "204": {"description": "Unregistered."},
                    **error_responses(401, 403, 404),
                },
                params=[device_id],
            ),
        ),
        (
            "/api/v1/push/topics/{topic}/subscription",
            "post",
            _op(
                "push_topic_subscribe",
                "Subscribe the user's devices (all, or those listed) to a topic",
                {
                    "200": _ok("Subscribed.", SUBSCRIBED),
                    **error_responses(400, 401, 403, 404, 415),
                },
                params=[topic],
                body=SUBSCRIBE_INPUT,
                required=False,
            ),
        ),
        (
            "/api/v1/push/topics/{topic}/subscription",
            "delete",
            _op(
                "push_topic_unsubscribe",
                "Unsubscribe the user's devices from a topic",
                {
                    "200": _ok("Unsubscribed.", SUBSCRIBED),
                    **error_responses(400, 401, 403, 404, 415),
                },
                params=[topic],
                body=SUBSCRIBE_INPUT,
                required=False,
            ),
        ),
        (
            "/api/v1/push/topics",
            "get",
            _op(
                "push_topic_rules_list",
                "Topic rules (who may subscribe to what)",
                {
                    "200": _ok("Topic rules.", _items(TOPIC_RULE)),
                    **error_responses(401, 403),
                },
            ),
        ),
        (
            "/api/v1/push/topics",
            "post",
            _op(
                "push_topic_rules_create",
                "Create a topic rule",
                {
                    "201": _ok("Created.", TOPIC_RULE),
                    **error_responses(400, 401, 403, 409, 415),
                },
                body={**TOPIC_RULE_INPUT, "required": ["name"]},
            ),
        ),
        (
            "/api/v1/push/topics/{name}",
            "get",
            _op(
                "push_topic_rules_get",
                "One topic rule",
                {"200": _ok("The rule.", TOPIC_RULE), **error_responses(401, 403, 404)},
                params=[name],
            ),
        ),
        (
            "/api/v1/push/topics/{name}",
            "patch",
            _op(
                "push_topic_rules_update",
                "Change a topic rule",
                {
                    "200": _ok("The rule.", TOPIC_RULE),
                    **error_responses(400, 401, 403, 404, 409, 415),
                },
                params=[name],
                body=TOPIC_RULE_INPUT,
            ),
        ),
        (
            "/api/v1/push/topics/{name}",
            "delete",
            _op(
                "push_topic_rules_delete",
                "Delete a topic rule",
                {
                    "204": {"description": "Deleted."},
                    **error_responses(401, 403, 404),
                },
                params=[name],
            ),
        ),
        (
            "/api/v1/push/messages",
            "get",
            _op(
                "push_messages_list",
                "Messages, newest first",
                {"200": _ok("A page.", page), **error_responses(400, 401, 403)},
                params=[
                    _query(
                        "state",
                        {
                            "type": "string",
                            "enum": ["scheduled", "sending", "done", "cancelled"],
                        },
                        "Only messages in this state.",
                    ),
                    *PAGE_PARAMS,
                ],
            ),
        ),
        (
            "/api/v1/push/messages",
            "post",
            _op(
                "push_messages_send",
                "Send (or schedule) a message",
                {
                    "202": _ok("Accepted; sent by workers.", MESSAGE),
                    **error_responses(400, 401, 403, 415),
                },
                body=SEND,
            ),
        ),
        (
            "/api/v1/push/messages/{message_id}",
            "get",
            _op(
                "push_messages_get",
                "A message: state, counts per device state, per-device results",
                {
                    "200": _ok("The message.", DETAIL),
                    **error_responses(400, 401, 403, 404),
                },
                params=[
                    message_id,
                    _query(
                        "state",
                        {"type": "string", "enum": list(COUNTED)},
                        "Only results in this state.",
                    ),
                    *PAGE_PARAMS,
                ],
            ),
        ),
        (
            "/api/v1/push/messages/{message_id}",
            "delete",
            _op(
                "push_messages_cancel",
                "Cancel a message no device was sent yet",
                {
                    "200": _ok("Cancelled.", MESSAGE),
                    **error_responses(401, 403, 404, 409),
                },
                params=[message_id],
            ),
        ),
        (
            "/api/v1/push/messages/{message_id}/opened",
            "post",
            _op(
                "push_messages_opened",
                "Report that the user opened the message (on one device or all)",
                {
                    "200": _ok(
                        "Rows marked opened.",
                        {
                            "type": "object",
                            "properties": {"opened": {"type": "integer"}},
                            "required": ["opened"],
                        },
                    ),
                    **error_responses(400, 401, 403, 404, 415),
                },
                params=[message_id],
                body={
                    "type": "object",
                    "properties": {"device": TEXT},
                    "additionalProperties": False,
                },
                required=False,
            ),
        ),
        ("/api/v1/push/webpush/vapid-public-key", "get", vapid),
    ]


def add_push_paths(result, generator=None, request=None, public=None):
    """drf-spectacular postprocessing hook: /api/v1/push/..."""
    add_tag(
        result, TAG, "Push notifications: devices, topics, messages (docs/push.md)."
    )
    for path, method, operation in _operations():
        add_operation(result, path, method, operation)
    return result
