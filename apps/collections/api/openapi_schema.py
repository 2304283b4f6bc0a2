"""OpenAPI for the schema endpoints (/collections, /schema): shapes of apps.collections.api.views.

The views carry `extend_schema(exclude=True)`; they are described here, once, as raw OpenAPI,
because their payloads are plain dicts (representation.py, schema_input.py, schema_io.py).
"""

from __future__ import annotations

from apps.collections import schema_input
from apps.collections.field_types import get_type, type_names
from apps.collections.models import RULE_ACTIONS, Collection
from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
    ref,
)

TAG = "collections"
RULE = {
    "type": "string",
    "nullable": True,
    "description": 'A filter expression; `""` = everyone, `null` = superusers only.',
}


def _options_description() -> str:
    lines = ["Options by field type:"]
    for name in type_names():
        options = sorted(get_type(name).option_types)
        lines.append(f"- `{name}`: {', '.join(f'`{o}`' for o in options) or 'none'}")
    return "\n".join(lines)


def _schemas() -> dict:
    field_props = {
        "id": {
            "type": "string",
            "description": "Assigned by the server; stable across renames.",
        },
        "name": {
            "type": "string",
            "pattern": r"^[A-Za-z][A-Za-z0-9_]*$",
            "maxLength": 63,
        },
        "type": {"type": "string", "enum": type_names()},
        "required": {"type": "boolean"},
        "unique": {"type": "boolean"},
        "hidden": {
            "type": "boolean",
            "description": "Readable and writable by superusers and keys only.",
        },
        "rules": {
            "type": "object",
            "properties": {"read": RULE, "write": RULE},
            "additionalProperties": False,
        },
        "options": {"type": "object", "description": _options_description()},
    }
    rules = {
        "type": "object",
        "properties": {action: RULE for action in RULE_ACTIONS},
        "additionalProperties": False,
    }
    index = {
        "type": "object",
        "properties": {
            "fields": {
                "type": "array",
                "items": {
                    "type": "string",
                    "description": "A field name, or id/created/updated.",
                },
                "minItems": 1,
                "maxItems": schema_input.MAX_INDEX_FIELDS,
            },
            "unique": {"type": "boolean", "default": False},
        },
        "required": ["fields"],
    }
    collection_props = {
        "id": {"type": "string"},
        "name": field_props["name"],
        "type": {"type": "string", "enum": [Collection.BASE, Collection.AUTH]},
        "system": {"type": "boolean"},
        "schema_version": {"type": "integer", "minimum": 1},
        "fields": {"type": "array", "items": ref("CollectionField")},
        "rules": ref("CollectionRules"),
        "indexes": {"type": "array", "items": ref("CollectionIndex")},
    }
    fields_input = {
        "type": "array",
        "items": ref("CollectionFieldInput"),
        "maxItems": schema_input.MAX_FIELDS,
        "description": "The complete list: a field keeping its `id` with a new name is a "
        "rename, a field left out is removed, one without `id` is added.",
    }
    indexes_input = {
        "type": "array",
        "items": ref("CollectionIndex"),
        "maxItems": schema_input.MAX_INDEXES,
    }
    change = {
        "type": "object",
        "properties": {
            "collection": {"type": "string"},
            "action": {"type": "string", "enum": ["create", "update", "unchanged"]},
            "renamed_from": {"type": "string"},
            "rules_changed": {"type": "boolean"},
            "fields": {
                "type": "object",
                "properties": {
                    "added": {"type": "array", "items": {"type": "string"}},
                    "removed": {"type": "array", "items": {"type": "string"}},
                    "changed": {"type": "array", "items": {"type": "string"}},
                    "renamed": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "from": {"type": "string"},
                                "to": {"type": "string"},
                            },
                            "required": ["from", "to"],
                        },
                    },
                },
            },
            "indexes": {
                "type": "object",
                "properties": {
                    "added": {"type": "integer"},
                    "removed": {"type": "integer"},
                },
            },
        },
        "required": ["collection", "action", "fields"],
    }
    return {
        "CollectionField": {
            "type": "object",
            "properties": field_props,
            "required": list(field_props),
        },
        "CollectionFieldInput": {
            "type": "object",
            "properties": field_props,
            "required": ["name"],
            "additionalProperties": False,
            "description": "`type` is required for a new field (one without `id`).",
        },
        "CollectionRules": rules,
        "CollectionIndex": index,
        "Collection": {
            "type": "object",
            "properties": collection_props,
            "required": list(collection_props),
        },
        "CollectionList": {
            "type": "object",
            "properties": {"items": {"type": "array", "items": ref("Collection")}},
            "required": ["items"],
        },
        "CollectionCreate": {
            "type": "object",
            "properties": {
                "name": field_props["name"],
                "type": {
                    "type": "string",
                    "enum": [Collection.BASE],
                    "default": Collection.BASE,
                    "description": "Only `base`; `users` is the one `auth` collection.",
                },
                "fields": fields_input,
                "rules": ref("CollectionRules"),
                "indexes": indexes_input,
            },
            "required": ["name"],
        },
        "CollectionUpdate": {
            "type": "object",
            "properties": {
                "name": field_props["name"],
                "fields": fields_input,
                "rules": ref("CollectionRules"),
                "indexes": indexes_input,
            },
        },
        "SchemaDocument": {
            "type": "object",
            "properties": {
                "version": {"type": "integer"},
                "collections": {"type": "array", "items": ref("Collection")},
            },
            "required": ["version", "collections"],
        },
        "SchemaImportDocument": {
            "type": "object",
            "properties": {
                "version": {"type": "integer"},
                "collections": {
                    "type": "array",
                    "maxItems": 500,
                    "items": {
                        "type": "object",
                        "properties": {
                            **collection_props,
                            "fields": fields_input,
                            "indexes": indexes_input,
                        },
                        "required": ["name"],
                    },
                },
            },
            "required": ["collections"],
        },
        "SchemaChange": change,
        "SchemaImportResult": {
            "type": "object",
            "properties": {
                "dry_run": {"type": "boolean"},
                "changes": {"type": "array", "items": ref("SchemaChange")},
            },
            "required": ["dry_run", "changes"],
        },
    }


def _operation(
    op_id: str, summary: str, responses: dict, *, body: str | None = None, **extra
) -> dict:
    operation = {
        "operationId": op_id,
        "summary": summary,
        "tags": [TAG],
        "security": SECURED,
        "responses": responses,
        **extra,
    }
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": json_content(ref(body)),
        }
    return operation


def _ok(schema: str, status: str = "200", description: str = "OK.") -> dict:
    return {status: {"description": description, "content": json_content(ref(schema))}}


def add_schema_paths(result: dict) -> None:
    """GET/POST /collections, GET/PATCH/DELETE /collections/{name}, /schema, /schema/import."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_schemas())
    add_tag(
        result,
        TAG,
        "Collection definitions: superusers and API keys with the `schema` scope.",
    )
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Collection name (case-insensitive).",
    }
    base = "/api/v1/collections"
    add_operation(
        result,
        base,
        "get",
        _operation(
            "collections_list",
            "List collection definitions",
            {**_ok("CollectionList"), **error_responses(401, 403)},
        ),
    )
    add_operation(
        result,
        base,
        "post",
        _operation(
            "collections_create",
            "Create a collection (and its table)",
            {
                **_ok("Collection", "201", "Created."),
                **error_responses(400, 401, 403, 409, 413, 415),
            },
            body="CollectionCreate",
        ),
    )
    detail = f"{base}/{{name}}"
    add_operation(
        result,
        detail,
        "get",
        _operation(
            "collections_get",
            "Read a collection definition",
            {**_ok("Collection"), **error_responses(401, 403, 404)},
            parameters=[name_param],
        ),
    )
    add_operation(
        result,
        detail,
        "patch",
        _operation(
            "collections_update",
            "Change a collection: rename, add/rename/retype/remove fields, rules, indexes",
            {**_ok("Collection"), **error_responses(400, 401, 403, 404, 409, 413, 415)},
            body="CollectionUpdate",
            parameters=[name_param],
        ),
    )
    add_operation(
        result,
        detail,
        "delete",
        _operation(
            "collections_delete",
            "Drop a collection and its records",
            {
                "204": {"description": "Dropped."},
                **error_responses(400, 401, 403, 404, 409),
            },
            parameters=[name_param],
        ),
    )
    add_operation(
        result,
        "/api/v1/schema",
        "get",
        _operation(
            "schema_export",
            "Export every collection as one document",
            {**_ok("SchemaDocument"), **error_responses(401, 403)},
        ),
    )
    add_operation(
        result,
        "/api/v1/schema/import",
        "post",
        _operation(
            "schema_import",
            "Import a schema document (all or nothing)",
            {
                **_ok("SchemaImportResult"),
                **error_responses(400, 401, 403, 409, 413, 415),
            },
            body="SchemaImportDocument",
            parameters=[
                {
                    "name": "dry_run",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean", "default": False},
                    "description": "`1` or `true`: return the changes without applying them.",
                }
            ],
        ),
    )
