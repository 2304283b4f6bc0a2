"""drf-spectacular post-processing: the static endpoints and every runtime collection.

Who sees what: anyone gets the static document (auth, schema endpoints, operations) with the
record endpoints described generically (`/collections/{name}/records`); superusers and API keys
that may touch records or the schema get one set of paths and schemas per collection instead.
Collection and field names are part of an app's design and not for anonymous eyes (PocketBase
shows them to superusers only; Supabase moved its OpenAPI document behind the secret key).
"""

from __future__ import annotations

from django.db import DatabaseError

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.openapi import add_auth_paths
from apps.accounts.permissions import is_superuser
from apps.collections import services
from apps.collections.api.openapi_schema import add_schema_paths
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.ids import ID_LENGTH
from apps.core.openapi import (
    SECURED,
    add_operation,
    add_operations_paths,
    add_tag,
    error_responses,
    install_common_components,
    json_content,
    ref,
)
from apps.records import records_list
from apps.records.api.openapi_changes import add_changes_path

COLLECTION_SCOPES = frozenset({"schema", "records:read", "records:write"})
ID_CHARS = "[a-z0-9]"  # apps.core.ids.ALPHABET
RECORD_ID = {"type": "string", "pattern": f"^{ID_CHARS}{{{ID_LENGTH}}}$"}
RELATED_ID = {"type": "string", "pattern": f"^{ID_CHARS}{{1,{ID_LENGTH}}}$"}
DATE_TIME = {"type": "string", "format": "date-time"}
SYSTEM_PROPERTIES = {
    "id": {**RECORD_ID, "description": "Opaque, URL-safe, assigned by the server."},
    "created": {**DATE_TIME, "description": "RFC 3339, UTC, milliseconds."},
    "updated": {**DATE_TIME, "description": "RFC 3339, UTC, milliseconds."},
}
GENERIC = "Record"


def sees_collections(user) -> bool:
    """Superusers and keys with a records or schema scope see each collection's paths."""
    if isinstance(user, KeyPrincipal):
        return bool(user.scopes & COLLECTION_SCOPES)
    return is_superuser(user) and getattr(user, "is_active", False)


def add_collection_paths(result, generator, request, public):
    """POSTPROCESSING_HOOK: everything drf-spectacular cannot find by itself."""
    install_common_components(result)
    add_schema_paths(result)
    user = getattr(request, "user", None)
    specs = None
    if request is None or sees_collections(
        user
    ):  # request is None: `manage.py spectacular`
        try:
            specs = services.list_specs()
        except DatabaseError:
            # Not migrated yet (e.g. `check --deploy` on a fresh database): static part only.
            specs = None
    if specs is not None:
        names = {spec.id: spec.name for spec in specs}
        for spec in specs:
            add_record_paths(result, spec, names)
    else:
        add_generic_record_paths(result)
        result["info"]["description"] = (
            "Record endpoints are shown generically. Authorize with a superuser's access "
            "token or an API key to see every collection with its fields."
        )
    add_auth_paths(result)
    add_operations_paths(result)
    return result


# --- field types -> JSON schema -------------------------------------------------------


def _nullable(schema: dict) -> dict:
    schema = {**schema, "nullable": True}
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def field_schema(field: FieldSpec, names: dict[str, str], *, output: bool) -> dict:
    """The JSON schema of one field's value, as rendered (output) or as accepted (input)."""
    options = field.options
    kind = field.type
    many = False
    if kind == "text":
        schema = {"type": "string"}
        for key, option in (
            ("minLength", "min"),
            ("maxLength", "max"),
            ("pattern", "pattern"),
        ):
            if options.get(option) is not None:
                schema[key] = options[option]
    elif kind == "number":
        schema = {"type": "integer" if options.get("integer") else "number"}
        for key, option in (("minimum", "min"), ("maximum", "max")):
            if options.get(option) is not None:
                schema[key] = options[option]
    elif kind == "bool":
        schema = {"type": "boolean"}
        if output:
            return schema  # an unset bool reads as false, never null
    elif kind == "email":
        schema = {"type": "string", "format": "email", "maxLength": 254}
    elif kind == "url":
        schema = {"type": "string", "format": "uri", "description": "An http(s) URL."}
    elif kind == "date":
        schema = dict(DATE_TIME)
        bounds = [
            f"{word} {options[key]}"
            for key, word in (("min", "not before"), ("max", "not after"))
            if options.get(key)
        ]
        if bounds:
            schema["description"] = "RFC 3339; " + ", ".join(bounds) + "."
    elif kind == "select":
        schema = {"type": "string", "enum": list(options.get("values") or [])}
        many = bool(options.get("multiple"))
    elif kind == "json":
        return {"description": "Any JSON value."}
    elif kind == "relation":
        target = names.get(options.get("collection"), options.get("collection"))
        schema = {**RELATED_ID, "description": f"The id of a `{target}` record."}
        many = bool(options.get("multiple"))
        if many:
            array = {
                "type": "array",
                "items": schema,
                "description": f"Ids of `{target}` records.",
            }
            if output:
                array["uniqueItems"] = True
            if options.get("max_select"):
                array["maxItems"] = options["max_select"]
            return array if output else _nullable(array)
    elif kind == "file":
        schema = {
            "type": "string",
            "maxLength": 200,
            "description": "A stored file name: download it from "
            "`/api/v1/files/{collection}/{record id}/{name}`; upload with multipart.",
        }
        many = bool(options.get("multiple"))
        if many and options.get("max_select"):
            array = {
                "type": "array",
                "items": schema,
                "maxItems": options["max_select"],
            }
            return {**array, "uniqueItems": True} if output else _nullable(array)
    else:  # a type registered by a plugin: describe loosely rather than wrongly
        return {"description": f"A `{kind}` value."}
    if many:
        array = {"type": "array", "items": schema}
        if output:
            return {**array, "uniqueItems": True}
        return _nullable(array)
    return _nullable(schema)


def _non_empty(schema: dict) -> dict:
    """A required field refuses empty values on create and update (FieldType.is_empty)."""
    schema = {key: value for key, value in schema.items() if key != "nullable"}
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
    kind = schema.get("type")
    if kind == "string":
        schema["minLength"] = max(1, schema.get("minLength", 0))
    elif kind == "array":
        schema["minItems"] = max(1, schema.get("minItems", 0))
    elif kind == "boolean":
        schema["enum"] = [True]  # false is empty for a bool
    return schema


def _described(schema: dict, field: FieldSpec) -> dict:
    notes = []
    if field.hidden:
        notes.append("Hidden: superusers and API keys only.")
    if any(field.rules.get(key) is not None for key in ("read", "write")):
        notes.append("Restricted further by field rules.")
    if field.unique:
        notes.append("Unique.")
    if not notes:
        return schema
    text = " ".join(filter(None, [schema.get("description"), *notes]))
    return {**schema, "description": text}


def _password_min_length() -> int | None:
    from django.contrib.auth.password_validation import (
        MinimumLengthValidator,
        get_default_password_validators,
    )

    for validator in get_default_password_validators():
        if isinstance(validator, MinimumLengthValidator):
            return validator.min_length
    return None


def record_schemas(spec: CollectionSpec, names: dict[str, str]) -> dict[str, dict]:
    """`<name>.Record`, `.Create`, `.Update` and `.List` for one collection."""
    record = dict(SYSTEM_PROPERTIES)
    create: dict = {
        "id": {**RECORD_ID, "description": "Optional: choose the record's id."}
    }
    required_out = list(SYSTEM_PROPERTIES)
    required_in: list[str] = []
    if spec.is_auth:
        email = {"type": "string", "format": "email", "maxLength": 254}
        password = {
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "maxLength": 256,
        }
        if (min_length := _password_min_length()) is not None:
            password["minLength"] = min_length
        # (null for a guest account until it is upgraded)
        record["email"] = {**email, "nullable": True}
        required_out.append("email")
        create.update(email=email, password=password)
        required_in += ["email", "password"]
    for field in spec.fields:
        record[field.name] = _described(field_schema(field, names, output=True), field)
        accepted = field_schema(field, names, output=False)
        create[field.name] = _described(
            _non_empty(accepted) if field.required else accepted, field
        )
        if not field.hidden and field.rules.get("read") is None:
            required_out.append(field.name)
        if field.required:
            required_in.append(field.name)
    files = [f for f in spec.fields if f.type == "file"]
    for field in files:
        create[f"{field.name}-"] = {
            "type": "array",
            "items": {"type": "string", "maxLength": 200},
            "description": f"Names of `{field.name}` files to remove.",
        }
    update = {key: value for key, value in create.items() if key != "id"}
    prefix = spec.name
    create_schema = {
        "type": "object",
        "properties": create,
        "additionalProperties": False,
    }
    if required_in:
        create_schema["required"] = required_in
    return {
        f"{prefix}.Record": {
            "type": "object",
            "properties": record,
            "required": required_out,
            "description": f"A record of `{spec.name}` ({spec.type} collection).",
        },
        f"{prefix}.Create": create_schema,
        f"{prefix}.Update": {
            "type": "object",
            "properties": update,
            "additionalProperties": False,
            "description": "Every field is optional; fields left out keep their value.",
        },
        f"{prefix}.List": _list_schema(ref(f"{prefix}.Record")),
        **({f"{prefix}.Upload": _upload_schema(files)} if files else {}),
    }


def _upload_schema(files: list[FieldSpec]) -> dict:
    """A create or update as multipart/form-data: files, and the other values as JSON."""
    binary = {"type": "string", "format": "binary"}
    properties: dict = {
        "@jsonPayload": {
            "type": "string",
            "description": "The other fields, as the JSON object of a JSON body.",
        }
    }
    for field in files:
        if field.options.get("multiple"):
            properties[field.name] = {
                "type": "array",
                "items": binary,
                "description": "Replaces the field's files.",
            }
            properties[f"{field.name}+"] = {
                "type": "array",
                "items": binary,
                "description": "Appended to the field's files.",
            }
        else:
            properties[field.name] = {**binary, "description": "Replaces the file."}
    return {"type": "object", "properties": properties}


def _list_schema(item: dict) -> dict:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next_cursor": {
                "type": "string",
                "nullable": True,
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
            "total": {"type": "integer", "description": "Only with `count=true`."},
        },
        "required": ["items", "next_cursor"],
    }


# --- paths ------------------------------------------------------------------------------


def _list_parameters() -> list[dict]:
    return [
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": records_list.MAX_LIMIT,
                "default": records_list.DEFAULT_LIMIT,
            },
        },
        {
            "name": "cursor",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "Keyset pagination: `next_cursor` of the previous page (not with `page`).",
        },
        {
            "name": "page",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
            "description": "Offset pagination, 1-based (not with `cursor`).",
        },
        {
            "name": "count",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "default": False},
            "description": "`true` (or `1`) adds `total`; off by default because it costs.",
        },
    ]


def _record_operations(
    prefix: str, tag: str, schemas: dict[str, str], base_params: list[dict]
) -> dict:
    """(path suffix, method) -> operation, for the list and detail paths of records."""
    id_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }

    def body(name: str) -> dict:
        content = json_content(ref(schemas[name]))
        if "upload" in schemas:
            content["multipart/form-data"] = {"schema": ref(schemas["upload"])}
        return {"required": True, "content": content}

    def ok(status: str, name: str, text: str) -> dict:
        return {
            status: {"description": text, "content": json_content(ref(schemas[name]))}
        }

    common = {"tags": [tag], "security": SECURED}
    return {
        ("/records", "get"): {
            **common,
            "operationId": f"{prefix}_list",
            "summary": "List records (newest first)",
            "parameters": base_params + _list_parameters(),
            "responses": {
                **ok("200", "list", "A page of records."),
                **error_responses(400, 401, 403, 404),
            },
        },
        ("/records", "post"): {
            **common,
            "operationId": f"{prefix}_create",
            "summary": "Create a record",
            "parameters": base_params,
            "requestBody": body("create"),
            "responses": {
                **ok("201", "record", "Created."),
                **error_responses(400, 401, 403, 404, 409, 413, 415),
            },
        },
        ("/records/{id}", "get"): {
            **common,
            "operationId": f"{prefix}_get",
            "summary": "Read one record",
            "parameters": base_params + [id_param],
            "responses": {
                **ok("200", "record", "The record."),
                **error_responses(401, 403, 404),
            },
        },
        ("/records/{id}", "patch"): {
            **common,
            "operationId": f"{prefix}_update",
            "summary": "Change some fields of a record",
            "parameters": base_params + [id_param],
            "requestBody": body("update"),
            "responses": {
                **ok("200", "record", "The record as stored."),
                **error_responses(400, 401, 403, 404, 409, 413, 415),
            },
        },
        ("/records/{id}", "delete"): {
            **common,
            "operationId": f"{prefix}_delete",
            "summary": "Delete a record",
            "parameters": base_params + [id_param],
            "responses": {
                "204": {"description": "Deleted."},
                **error_responses(401, 403, 404),
                "409": {
                    "description": "Another record references this one and its relation "
                    "does not cascade.",
                    "content": json_content(ref("Error")),
                },
            },
        },
    }


def add_record_paths(result: dict, spec: CollectionSpec, names: dict[str, str]) -> None:
    """`/api/v1/collections/<name>/records[/{id}]` with this collection's own schemas."""
    schemas = record_schemas(spec, names)
    result.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    tag = f"records: {spec.name}"
    add_tag(result, tag, f"Records of the `{spec.name}` collection.")
    refs = {
        kind: f"{spec.name}.{suffix}"
        for kind, suffix in (
            ("record", "Record"),
            ("create", "Create"),
            ("update", "Update"),
            ("list", "List"),
            ("upload", "Upload"),
        )
        if f"{spec.name}.{suffix}" in schemas
    }
    base = f"/api/v1/collections/{spec.name}"
    for (suffix, method), operation in _record_operations(
        f"records_{spec.name}", tag, refs, []
    ).items():
        add_operation(result, base + suffix, method, operation)
    add_changes_path(result, base, f"records_{spec.name}", tag, ref(refs["record"]), [])


def add_generic_record_paths(result: dict) -> None:
    """The record endpoints for any collection, without naming one."""
    record = {
        "type": "object",
        "properties": dict(SYSTEM_PROPERTIES),
        "required": list(SYSTEM_PROPERTIES),
        "additionalProperties": True,
        "description": "System fields plus the collection's own fields.",
    }
    schemas = {
        GENERIC: record,
        f"{GENERIC}Input": {
            "type": "object",
            "additionalProperties": True,
            "description": "The collection's fields.",
        },
        f"{GENERIC}List": _list_schema(ref(GENERIC)),
    }
    result.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
    add_tag(result, "records", "Records of any collection.")
    refs = {
        "record": GENERIC,
        "create": f"{GENERIC}Input",
        "update": f"{GENERIC}Input",
        "list": f"{GENERIC}List",
    }
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Collection name.",
    }
    base = "/api/v1/collections/{name}"
    for (suffix, method), operation in _record_operations(
        "records", "records", refs, [name_param]
    ).items():
        add_operation(result, base + suffix, method, operation)
    add_changes_path(result, base, "records", "records", ref(GENERIC), [name_param])
