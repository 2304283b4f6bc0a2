"""Keyset pages, newest first, for the operator lists (jobs, deliveries, audit log):
`?limit=` and `?cursor=` as the record lists have them, `{"items", "next_cursor"}`."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from datetime import timezone as dt_timezone

import orjson
from django.db.models import Q

from apps.core.exceptions import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def parse_limit(params, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput("limit must be an integer.", param="limit") from None
    if not 1 <= value <= maximum:
        raise InvalidInput(
            f"limit must be between 1 and {maximum}.",
            code="out_of_range",
            param="limit",
        )
    return value


def format_time(moment: datetime) -> str:
    """RFC 3339, UTC, milliseconds (the API's timestamps)."""
    return (
        moment.astimezone(dt_timezone.utc).isoformat(timespec="milliseconds")[:23] + "Z"
    )


def encode_cursor(moment: datetime, row_id: str) -> str:
    raw = orjson.dumps([moment.astimezone(dt_timezone.utc).isoformat(), row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, row_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not (isinstance(row_id, str) and _ID.fullmatch(row_id)):
            raise ValueError("not an id")
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment, row_id
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidInput(
            "The cursor is not valid.", code="invalid_cursor", param="cursor"
        ) from None


def newest_first(queryset, time_field: str, params) -> tuple[list, str | None]:
    """One page of `queryset` ordered by (`time_field`, id) descending."""
    limit = parse_limit(params)
    cursor = params.get("cursor")
    if cursor:
        moment, row_id = decode_cursor(cursor)
        queryset = queryset.filter(
            Q(**{f"{time_field}__lt": moment})
            | Q(**{time_field: moment, "pk__lt": row_id})
        )
    rows = list(queryset.order_by(f"-{time_field}", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more and rows else None
    return rows, encode_cursor(getattr(last, time_field), last.pk) if last else None
