"""What the console's form pages share: an ApiError's messages by field, and how values
are shown (times, JSON)."""

from __future__ import annotations

import json
from datetime import datetime

from apps.core.exceptions import ApiError


def form_errors(exc: ApiError) -> dict[str, list[str]]:
    """An ApiError's messages by the field they name ("" for the form as a whole)."""
    found: dict[str, list[str]] = {}
    for item in exc.errors:
        found.setdefault(item.param or "", []).append(item.message)
    return found


def general_errors(errors: dict[str, list[str]], fields) -> list[str]:
    """The messages no field of the form shows next to itself."""
    return [m for name, items in errors.items() if name not in fields for m in items]


def when(value) -> str:
    """A datetime or an RFC 3339 text as `2026-05-01 12:00:03` (UTC), or ""."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S")


def pretty(value, *, sort: bool = True) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort)
