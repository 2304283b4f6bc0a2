"""OpenAPI description of `GET /api/v1/collections/{name}/changes` (delta sync)."""

from __future__ import annotations

from apps.core.openapi import SECURED, add_operation, error_responses, json_content
from apps.records import changes


def changes_schema(record: dict) -> dict:
    upsert = {
        "type": "object",
        "properties": {"op": {"type": "string", "enum": ["upsert"]}, "record": record},
        "required": ["op", "record"],
    }
    delete = {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["delete"]},
            "id": {"type": "string"},
        },
        "required": ["op", "id"],
    }
    return {
        "type": "object",
        "properties": {
            "changes": {"type": "array", "items": {"oneOf": [upsert, delete]}},
            "next": {
                "type": "string",
                "description": "Pass as `since` to continue; opaque.",
            },
            "has_more": {
                "type": "boolean",
                "description": "More changes are ready: ask again at once.",
            },
        },
        "required": ["changes", "next", "has_more"],
    }


def add_changes_path(
    result: dict,
    base: str,
    prefix: str,
    tag: str,
    record: dict,
    base_params: list[dict],
) -> None:
    """`<base>/changes`; `record` is the schema (or $ref) of one record."""
    parameters = base_params + [
        {
            "name": "since",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "The `next` of the previous response; none: from the start.",
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": changes.MAX_LIMIT,
                "default": changes.DEFAULT_LIMIT,
            },
        },
    ]
    gone = {
        "description": "`resync_required`: changes since the token are no longer kept; "
        "sync again without `since`.",
        "content": json_content({"$ref": "#/components/schemas/Error"}),
    }
    add_operation(
        result,
        f"{base}/changes",
        "get",
        {
            "tags": [tag],
            "security": SECURED,
            "operationId": f"{prefix}_changes",
            "summary": "Records created, updated or deleted since a change token",
            "description": "In commit order; the records the caller may view now, with "
            "the fields they may read, and the ids of records deleted that the caller "
            "could view before.",
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "A page of changes.",
                    "content": json_content(changes_schema(record)),
                },
                **error_responses(400, 401, 403, 404),
                "410": gone,
            },
        },
    )
