"""The webhook endpoints in the OpenAPI document (plain APIViews: described here)."""

from __future__ import annotations

from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
)
from apps.core.paging import MAX_LIMIT
from apps.hooks.webhook_delivery import MAX_ATTEMPTS
from apps.hooks.webhook_service import MAX_EVENTS, STATES

TAG = "webhooks"
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {**TIME, "nullable": True}
EVENTS = {
    "type": "array",
    "items": {
        "type": "string",
        "description": "`<collection>.create|update|delete`, `<collection>.*`, "
        "`push.message.finished`.",
    },
    "minItems": 1,
    "maxItems": MAX_EVENTS,
    "example": ["posts.create", "users.*"],
}
FILTER = {
    "type": "string",
    "nullable": True,
    "description": "An expression of the rules language tested on the record as "
    "written (as it was, for a delete); `@now` but no `@request`. null: every record.",
}
WEBHOOK = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string", "format": "uri"},
        "events": EVENTS,
        "filter": FILTER,
        "active": {"type": "boolean"},
        "created": TIME,
        "updated": TIME,
        "failing_since": {
            **NULLABLE_TIME,
            "description": "The first failed attempt since the last success.",
        },
        "disabled_at": {
            **NULLABLE_TIME,
            "description": "When the server disabled the endpoint after sustained "
            "failure (BAAS_WEBHOOK_DISABLE_AFTER); cleared by `active: true`.",
        },
        "disabled_reason": {"type": "string", "nullable": True},
    },
    "required": ["id", "url", "events", "filter", "active", "created", "updated"],
}
CREATED = {
    **WEBHOOK,
    "properties": {
        **WEBHOOK["properties"],
        "secret": {
            "type": "string",
            "description": "`whsec_...`: the signing secret, shown this once.",
        },
    },
    "required": [*WEBHOOK["required"], "secret"],
}
INPUT = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "format": "uri",
            "description": "http(s), no credentials; a public address unless "
            "BAAS_WEBHOOK_ALLOW_PRIVATE.",
        },
        "events": EVENTS,
        "filter": FILTER,
        "active": {"type": "boolean", "default": True},
    },
    "additionalProperties": False,
}
DELIVERY = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Sent as `webhook-id`."},
        "webhook": {"type": "string"},
        "type": {"type": "string", "example": "posts.create"},
        "collection_id": {"type": "string", "nullable": True},
        "record_id": {"type": "string", "nullable": True},
        "state": {"type": "string", "enum": list(STATES)},
        "attempts": {
            "type": "integer",
            "description": f"Attempts so far ({MAX_ATTEMPTS} before it is given up; "
            "more after a manual retry).",
        },
        "status_code": {"type": "integer", "nullable": True},
        "latency_ms": {"type": "integer", "nullable": True},
        "last_error": {"type": "string", "nullable": True},
        "next_attempt_at": {
            **NULLABLE_TIME,
            "description": "When a pending delivery is tried next, at the latest.",
        },
        "created": TIME,
        "last_attempt_at": NULLABLE_TIME,
        "delivered_at": NULLABLE_TIME,
    },
    "required": ["id", "webhook", "type", "state", "attempts", "created"],
}
DELIVERY_WITH_PAYLOAD = {
    **DELIVERY,
    "properties": {
        **DELIVERY["properties"],
        "payload": {
            "type": "object",
            "description": "The body as sent: `{type, timestamp, data: {record, old?}}`.",
        },
    },
}


def _path(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": description,
    }


WEBHOOK_ID = _path("webhook_id", "The webhook's id.")
DELIVERY_ID = _path("delivery_id", "The delivery's id.")


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _operations() -> dict[str, tuple[str, str, dict]]:
    base = {"tags": [TAG], "security": SECURED}
    one = {"description": "The webhook.", "content": json_content(WEBHOOK)}
    page = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": DELIVERY},
            "next_cursor": {"type": "string", "nullable": True},
        },
        "required": ["items", "next_cursor"],
    }
    return {
        "list": (
            "/api/v1/webhooks",
            "get",
            {
                **base,
                "operationId": "webhooks_list",
                "summary": "Webhooks",
                "responses": {
                    "200": {
                        "description": "Every webhook (never a secret).",
                        "content": json_content(
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": WEBHOOK}
                                },
                                "required": ["items"],
                            }
                        ),
                    },
                    **error_responses(401, 403),
                },
            },
        ),
        "create": (
            "/api/v1/webhooks",
            "post",
            {
                **base,
                "operationId": "webhooks_create",
                "summary": "Create a webhook (its secret is in this answer only)",
                "requestBody": {
                    "required": True,
                    "content": json_content({**INPUT, "required": ["url", "events"]}),
                },
                "responses": {
                    "201": {
                        "description": "The webhook and its signing secret.",
                        "content": json_content(CREATED),
                    },
                    **error_responses(400, 401, 403, 415),
                },
            },
        ),
        "get": (
            "/api/v1/webhooks/{webhook_id}",
            "get",
            {
                **base,
                "operationId": "webhooks_get",
                "summary": "One webhook",
                "parameters": [WEBHOOK_ID],
                "responses": {"200": one, **error_responses(401, 403, 404)},
            },
        ),
        "update": (
            "/api/v1/webhooks/{webhook_id}",
            "patch",
            {
                **base,
                "operationId": "webhooks_update",
                "summary": "Change a webhook; `active: true` enables a disabled one",
                "parameters": [WEBHOOK_ID],
                "requestBody": {"required": True, "content": json_content(INPUT)},
                "responses": {
                    "200": one,
                    **error_responses(400, 401, 403, 404, 415),
                },
            },
        ),
        "delete": (
            "/api/v1/webhooks/{webhook_id}",
            "delete",
            {
                **base,
                "operationId": "webhooks_delete",
                "summary": "Delete a webhook and its delivery log",
                "parameters": [WEBHOOK_ID],
                "responses": {
                    "204": {"description": "Deleted."},
                    **error_responses(401, 403, 404),
                },
            },
        ),
        "deliveries": (
            "/api/v1/webhooks/{webhook_id}/deliveries",
            "get",
            {
                **base,
                "operationId": "webhooks_deliveries",
                "summary": "A webhook's deliveries, newest first",
                "parameters": [
                    WEBHOOK_ID,
                    _query(
                        "state",
                        {"type": "string", "enum": list(STATES)},
                        "Only deliveries in this state.",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                        "Deliveries per page (default 50).",
                    ),
                    _query(
                        "cursor",
                        {"type": "string"},
                        "`next_cursor` of the previous page.",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of deliveries.",
                        "content": json_content(page),
                    },
                    **error_responses(400, 401, 403, 404),
                },
            },
        ),
        "delivery": (
            "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}",
            "get",
            {
                **base,
                "operationId": "webhooks_delivery",
                "summary": "One delivery, with its payload",
                "parameters": [WEBHOOK_ID, DELIVERY_ID],
                "responses": {
                    "200": {
                        "description": "The delivery.",
                        "content": json_content(DELIVERY_WITH_PAYLOAD),
                    },
                    **error_responses(401, 403, 404),
                },
            },
        ),
        "retry": (
            "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
            "post",
            {
                **base,
                "operationId": "webhooks_delivery_retry",
                "summary": "Send a delivery again now (any state, same webhook-id)",
                "description": "It still waits for earlier unfinished deliveries of "
                "the same record. 409 while an attempt is in flight or when the "
                "webhook is not active.",
                "parameters": [WEBHOOK_ID, DELIVERY_ID],
                "responses": {
                    "202": {
                        "description": "Queued; the delivery as it is now.",
                        "content": json_content(DELIVERY),
                    },
                    **error_responses(401, 403, 404, 409),
                },
            },
        ),
    }


def add_webhook_paths(result, generator=None, request=None, public=None):
    """drf-spectacular postprocessing hook: /api/v1/webhooks..."""
    add_tag(result, TAG, "Signed HTTP callbacks for record events (docs/webhooks.md).")
    for path, method, operation in _operations().values():
        add_operation(result, path, method, operation)
    return result
