"""OpenAPI building blocks every app shares: the error envelope, bearer auth, operations paths."""

from __future__ import annotations

BEARER = "bearer"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT access token or API key",
    "description": (
        "`Authorization: Bearer <token>`: a short-lived JWT access token from "
        "`POST /api/v1/auth/login` (app users and superusers), or an API key (`bk_...`) "
        "created in the console or with `baas apikey create`."
    ),
}
SECURED = [{BEARER: []}]

ERROR_DESCRIPTIONS = {
    400: "Invalid input; `param` names the offending field or query parameter.",
    401: "Missing or invalid credentials.",
    403: "Authenticated but not allowed.",
    404: "Not found, or not visible to you.",
    409: "Conflict: a unique value, or a concurrent change.",
    413: "The request body is too large.",
    415: "Unsupported media type: send `application/json`.",
}


def ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def error_schemas() -> dict:
    """The envelope every error leaves in (API.md, apps.core.errors)."""
    return {
        "ErrorItem": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable."},
                "message": {"type": "string", "description": "Human readable."},
                "param": {
                    "type": "string",
                    "description": "The offending field or query parameter, when there is one.",
                },
            },
            "required": ["code", "message"],
        },
        "Error": {
            "type": "object",
            "properties": {
                "status": {
                    "type": "integer",
                    "description": "The HTTP status, repeated.",
                },
                "errors": {"type": "array", "items": ref("ErrorItem"), "minItems": 1},
            },
            "required": ["status", "errors"],
            "example": {
                "status": 400,
                "errors": [
                    {"code": "invalid", "message": "Human readable.", "param": "title"}
                ],
            },
        },
    }


def error_responses(*statuses: int) -> dict:
    """`responses` entries referencing the shared error responses."""
    return {str(status): ref(f"Error{status}", "responses") for status in statuses}


def install_common_components(result: dict) -> None:
    """Add the error envelope, its responses and the bearer scheme to a document."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in error_schemas().items():
        schemas.setdefault(name, schema)
    responses = components.setdefault("responses", {})
    for status, description in ERROR_DESCRIPTIONS.items():
        responses.setdefault(
            f"Error{status}",
            {"description": description, "content": json_content(ref("Error"))},
        )
    components.setdefault("securitySchemes", {}).setdefault(BEARER, BEARER_SCHEME)
    # Relative: the server that serves the document (every path starts with /api/v1).
    result.setdefault("servers", [{"url": "/", "description": "This server."}])


def add_operation(result: dict, path: str, method: str, operation: dict) -> None:
    """Describe one operation, unless a view's own annotation already did (never twice)."""
    item = result.setdefault("paths", {}).setdefault(path, {})
    item.setdefault(method, operation)


def add_tag(result: dict, name: str, description: str) -> None:
    tags = result.setdefault("tags", [])
    if not any(tag["name"] == name for tag in tags):
        tags.append({"name": name, "description": description})


def add_operations_paths(result: dict) -> None:
    """/healthz and /readyz (apps.core.views): plain Django views, so described here."""
    add_tag(result, "operations", "Liveness and readiness probes.")
    status = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    }
    add_operation(
        result,
        "/healthz",
        "get",
        {
            "operationId": "healthz",
            "summary": "Liveness: the process is alive and serving",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {"description": "Alive.", "content": json_content(status)}
            },
        },
    )
    checks = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "description": "`ok` or `error: <kind>` per dependency.",
                "properties": {
                    name: {"type": "string"} for name in ("database", "cache", "broker")
                },
            },
        },
        "required": ["status", "checks"],
    }
    add_operation(
        result,
        "/readyz",
        "get",
        {
            "operationId": "readyz",
            "summary": "Readiness: database, cache and broker answer",
            "tags": ["operations"],
            "security": [],
            "responses": {
                "200": {
                    "description": "Every dependency answers.",
                    "content": json_content(checks),
                },
                "503": {
                    "description": "A dependency is down.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": json_content(checks),
                },
            },
        },
    )
