"""/api/v1/audit: the audit log (apps.hooks.audit), newest first, for superusers only.

API keys have no scope for it (API.md lists none): the log records what keys did, and a
leaked key must not be able to read who changed what. Parameters are parsed here; a bad
one is a 400 naming it.
"""

from __future__ import annotations

import re
from datetime import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import InvalidInput, NotFound
from apps.core.paging import DEFAULT_LIMIT, MAX_LIMIT, newest_first
from apps.hooks import audit
from apps.hooks.models import AuditEntry

ACTION = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
ACTOR_KINDS = frozenset({"user", "apikey", "system"})
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
KIND = re.compile(r"[a-z_]{1,32}")
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
MAX_VALUE = 254

ERROR = {"$ref": "#/components/schemas/Error"}
SNAPSHOT = {
    "type": "object",
    "nullable": True,
    "additionalProperties": True,
    "description": "What the target was (before) or became (after), as the API shows "
    "it; null before a create and after a delete.",
}
ANY = {"description": "Any JSON value; null where there was none."}
ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "action": {
            "type": "string",
            "description": "Stable dotted name: collection.create, collection.update, "
            "collection.rules, collection.delete, schema.import, channel.create, "
            "channel.update, channel.rules, channel.delete, apikey.create, "
            "apikey.revoke, superuser.login, account.delete, webhook.create, "
            "webhook.update, webhook.delete, schedule.create, schedule.update, "
            "schedule.delete, job.retry (docs/audit.md).",
        },
        "actor": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": sorted(ACTOR_KINDS)},
                "id": {"type": "string", "nullable": True},
                "label": {
                    "type": "string",
                    "nullable": True,
                    "description": "A user's email, an API key's name.",
                },
            },
        },
        "target": {
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "id": {"type": "string", "nullable": True},
                "name": {"type": "string", "nullable": True},
            },
        },
        "before": SNAPSHOT,
        "after": SNAPSHOT,
        "diff": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"before": ANY, "after": ANY},
            },
            "description": "Every value that differs, by dotted path "
            "(`rules.list`, `fields.<field id>.name`).",
        },
        "client_address": {"type": "string", "nullable": True},
    },
}
PAGE = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": ENTRY},
        "next_cursor": {"type": "string", "nullable": True},
    },
}
REFUSED = {
    401: OpenApiResponse(response=ERROR, description="No credentials."),
    403: OpenApiResponse(response=ERROR, description="Superusers only."),
}


def _query(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=description
    )


PARAMETERS = [
    _query("action", "An action (`apikey.revoke`) or a family (`collection.*`)."),
    _query("actor", "An actor's id, `<kind>:<id>` (`user:…`, `apikey:…`) or `system`."),
    _query(
        "target",
        "A target's id or name, optionally with its kind (`collection:posts`).",
    ),
    _query("since", "RFC 3339 date-time: entries at or after it."),
    _query("until", "RFC 3339 date-time: entries before it."),
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        OpenApiParameter.QUERY,
        description=f"Entries per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
    ),
    _query("cursor", "`next_cursor` of the previous page."),
]


def _value(params, name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_VALUE or any(ord(c) < 32 for c in raw):
        raise InvalidInput(f"{name} is not a valid value.", param=name)
    return raw


def _actions(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    if text.endswith(".*") and ACTION.fullmatch(text[:-2]):
        return "prefix", text[:-1]
    if ACTION.fullmatch(text):
        return "exact", text
    raise InvalidInput(
        "action is an action name (`collection.update`) or a family (`collection.*`).",
        param="action",
    )


def _actor(text: str | None) -> tuple[str | None, str | None] | None:
    if text is None:
        return None
    if text == "system":
        return "system", None
    kind, sep, actor_id = text.partition(":")
    if not sep:
        kind, actor_id = None, text
    if (kind is not None and kind not in ACTOR_KINDS) or not ID.fullmatch(actor_id):
        raise InvalidInput(
            "actor is an id, `<kind>:<id>` (kind user, apikey or system) or `system`.",
            param="actor",
        )
    return kind, actor_id


def _target(text: str | None) -> tuple[str | None, str] | None:
    if text is None:
        return None
    kind, sep, value = text.partition(":")
    if sep and KIND.fullmatch(kind):
        if not value:
            raise InvalidInput(
                "target is `<kind>:<id or name>` or an id or name.", param="target"
            )
        return kind, value
    return None, text


def _time(params, name: str) -> datetime | None:
    text = _value(params, name)
    if text is None:
        return None
    try:
        if not RFC3339.fullmatch(text):
            raise ValueError(text)
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name} is an RFC 3339 date-time with a time zone "
            "(`2024-05-01T12:00:00Z`).",
            param=name,
        ) from None


class AuditListView(APIView):
    """Default permission without a `required_scope`: superusers only."""

    @extend_schema(
        operation_id="audit_list",
        summary="The audit log, newest first",
        tags=["audit"],
        parameters=PARAMETERS,
        responses={
            200: OpenApiResponse(response=PAGE, description="A page of entries."),
            400: OpenApiResponse(response=ERROR, description="A bad parameter."),
            **REFUSED,
        },
    )
    def get(self, request):
        params = request.query_params
        matching = audit.entries(
            actions=_actions(_value(params, "action")),
            actor=_actor(_value(params, "actor")),
            target=_target(_value(params, "target")),
            since=_time(params, "since"),
            until=_time(params, "until"),
        )
        rows, cursor = newest_first(matching, "at", params)
        return Response(
            {"items": [audit.entry_to_json(e) for e in rows], "next_cursor": cursor}
        )


class AuditEntryView(APIView):
    @extend_schema(
        operation_id="audit_get",
        summary="One audit entry",
        tags=["audit"],
        responses={
            200: OpenApiResponse(response=ENTRY, description="The entry."),
            404: OpenApiResponse(response=ERROR, description="No such entry."),
            **REFUSED,
        },
    )
    def get(self, request, entry_id: str):
        entry = (
            AuditEntry.objects.filter(pk=entry_id).first()
            if ID.fullmatch(entry_id)
            else None
        )
        if entry is None:
            raise NotFound("No such audit entry.")
        return Response(audit.entry_to_json(entry))
