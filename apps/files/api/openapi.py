"""The file endpoints in the OpenAPI document (plain APIViews: described here)."""

from __future__ import annotations

from apps.core.openapi import (
    SECURED,
    add_operation,
    add_tag,
    error_responses,
    json_content,
)

TAG = "files"
STRING = {"type": "string"}
EXPIRES = {"type": "string", "format": "date-time"}


def _parameter(name: str, where: str, description: str, schema=None) -> dict:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema or STRING,
        "description": description,
    }


def _download() -> dict:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "operationId": "files_download",
        "summary": "Download a record's file (or a thumbnail of it)",
        "description": "Whoever may view the record and read the field may download; "
        "protected files need a signed-in caller (`Authorization` or `token`). "
        "Supports `Range`, `If-None-Match` and `If-Modified-Since`.",
        "tags": [TAG],
        "security": [{}, *SECURED],
        "parameters": [
            _parameter("collection", "path", "The collection's name."),
            _parameter("record", "path", "The record's id."),
            _parameter("name", "path", "The stored file name (the field's value)."),
            _parameter(
                "thumb", "query", "A thumbnail size the field's `thumbs` lists."
            ),
            _parameter("token", "query", "A file token (`POST /api/v1/files/token`)."),
            _parameter(
                "download",
                "query",
                "`1`: `Content-Disposition: attachment`.",
                {"type": "string", "enum": ["1", "true"]},
            ),
        ],
        "responses": {
            "200": {"description": "The file.", "content": {"*/*": binary}},
            "206": {
                "description": "The requested byte range.",
                "content": {"*/*": binary},
            },
            "302": {"description": "S3: a large file, from a presigned URL."},
            "304": {"description": "Not modified."},
            "416": {"description": "The range is outside the file."},
            **error_responses(400, 401, 404, 413),
        },
    }


def _token() -> dict:
    schema = {
        "type": "object",
        "properties": {"token": STRING, "expires": EXPIRES},
        "required": ["token", "expires"],
    }
    return {
        "operationId": "files_token",
        "summary": "A short-lived token for file URLs (signed-in users)",
        "tags": [TAG],
        "security": SECURED,
        "responses": {
            "200": {"description": "The token.", "content": json_content(schema)},
            **error_responses(401, 403),
        },
    }


def _upload_begin() -> dict:
    request = {
        "type": "object",
        "properties": {
            "collection": STRING,
            "record": STRING,
            "field": STRING,
            "name": STRING,
            "size": {"type": "integer", "minimum": 1},
        },
        "required": ["collection", "record", "field", "size"],
    }
    ticket = {
        "type": "object",
        "properties": {
            "id": STRING,
            "method": {"type": "string", "enum": ["PUT"]},
            "url": {"type": "string", "format": "uri"},
            "headers": {"type": "object", "additionalProperties": STRING},
            "expires": EXPIRES,
        },
        "required": ["id", "method", "url", "headers", "expires"],
    }
    return {
        "operationId": "files_upload_begin",
        "summary": "Begin a direct upload to S3-compatible storage",
        "description": "The caller must be allowed to update the record. Send the bytes "
        "to `url` with `method` and exactly `headers`, then complete the upload.",
        "tags": [TAG],
        "security": SECURED,
        "requestBody": {"required": True, "content": json_content(request)},
        "responses": {
            "201": {
                "description": "Where to send the bytes.",
                "content": json_content(ticket),
            },
            **error_responses(400, 401, 403, 404, 409, 413),
        },
    }


def _upload_complete() -> dict:
    return {
        "operationId": "files_upload_complete",
        "summary": "Check a direct upload and attach it to its record",
        "tags": [TAG],
        "security": SECURED,
        "parameters": [_parameter("id", "path", "The upload's id.")],
        "responses": {
            "200": {
                "description": "The record, with the file attached.",
                "content": json_content({"type": "object"}),
            },
            **error_responses(400, 401, 403, 404, 409),
        },
    }


def add_file_paths(result, generator, request, public):
    """POSTPROCESSING_HOOK: /api/v1/files/..."""
    add_tag(result, TAG, "Downloads, file tokens and direct uploads.")
    base = "/api/v1/files"
    add_operation(result, base + "/{collection}/{record}/{name}", "get", _download())
    add_operation(result, base + "/token", "post", _token())
    add_operation(result, base + "/uploads", "post", _upload_begin())
    add_operation(result, base + "/uploads/{id}/complete", "post", _upload_complete())
    return result
