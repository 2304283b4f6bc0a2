"""/api/v1/apikeys: superusers create (the key is shown once), list and revoke API keys.

Keys themselves never manage keys: a leaked key must not be able to mint another.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.apikeys import SCOPES, apikey_create, apikey_revoke
from apps.accounts.models import ApiKey
from apps.core.exceptions import InvalidInput, NotFound

ERROR = {"$ref": "#/components/schemas/Error"}
KEY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "prefix": {"type": "string", "description": "Shown to tell keys apart."},
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": sorted(SCOPES)},
        },
        "created": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
        "last_used_at": {"type": "string", "format": "date-time", "nullable": True},
        "revoked_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
CREATE = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "scopes": {
            "type": "array",
            "items": {"type": "string", "enum": sorted(SCOPES)},
            "minItems": 1,
        },
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
    },
    "required": ["name", "scopes"],
    "additionalProperties": False,
}
CREATED = {
    "allOf": [
        KEY,
        {
            "type": "object",
            "properties": {
                "key": {
                    "type": "string",
                    "description": "The secret, shown this once: only a hash is kept.",
                }
            },
        },
    ]
}
REFUSED = {
    401: OpenApiResponse(response=ERROR, description="No credentials."),
    403: OpenApiResponse(response=ERROR, description="Superusers only."),
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def _render(key: ApiKey) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "created": _iso(key.created),
        "expires_at": _iso(key.expires_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


def _expiry(value) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed, but no such date (month 13)
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            "An RFC 3339 date-time with a time zone is expected.", param="expires_at"
        )
    if parsed <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", param="expires_at")
    return parsed


class ApiKeysView(APIView):
    """Default permission: superusers only (keys have no scope for this)."""

    @extend_schema(
        operation_id="apikeys_list",
        summary="List API keys (never their secrets)",
        tags=["api keys"],
        responses={
            200: {
                "type": "object",
                "properties": {"items": {"type": "array", "items": KEY}},
            },
            **REFUSED,
        },
    )
    def get(self, request):
        keys = ApiKey.objects.order_by("-created")
        return Response({"items": [_render(k) for k in keys]})

    @extend_schema(
        operation_id="apikeys_create",
        summary="Create an API key; the secret is in this answer only",
        tags=["api keys"],
        request={"application/json": CREATE},
        responses={
            201: OpenApiResponse(response=CREATED, description="Created."),
            400: OpenApiResponse(response=ERROR, description="Invalid input."),
            **REFUSED,
        },
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise InvalidInput("A JSON object is expected.")
        unknown = sorted(set(data) - {"name", "scopes", "expires_at"})
        if unknown:
            raise InvalidInput(f"Unknown field {unknown[0]!r}.", param=unknown[0])
        name, scopes = data.get("name"), data.get("scopes")
        if not isinstance(name, str):
            raise InvalidInput("A name is required.", param="name")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise InvalidInput("A list of scopes is required.", param="scopes")
        key, plaintext = apikey_create(
            name=name,
            scopes=scopes,
            expires_at=_expiry(data.get("expires_at")),
            actor=request.user,
            request=request,
        )
        return Response({**_render(key), "key": plaintext}, status=201)


class ApiKeyView(APIView):
    @extend_schema(
        operation_id="apikeys_revoke",
        summary="Revoke an API key (at once, for good)",
        tags=["api keys"],
        responses={
            204: OpenApiResponse(description="Revoked."),
            404: OpenApiResponse(response=ERROR, description="No such key."),
            **REFUSED,
        },
    )
    def delete(self, request, key_id: str):
        if not ApiKey.objects.filter(pk=key_id).exists():
            raise NotFound("No such API key.")
        apikey_revoke(key_id=key_id, actor=request.user, request=request)
        return Response(status=204)
