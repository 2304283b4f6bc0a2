"""`date`: a point in time, RFC 3339 in UTC with millisecond precision."""

from __future__ import annotations

import datetime as dt

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType


def format_datetime(value: dt.datetime | None) -> str | None:
    """RFC 3339, UTC, milliseconds: 2026-01-02T03:04:05.678Z."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc)
    # Not strftime: glibc's %Y drops the zero padding of years before 1000.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse_datetime(value: str) -> dt.datetime:
    text = value.strip()
    if len(text) > 40:
        raise ValueError("too long")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    parsed = parsed.astimezone(dt.timezone.utc)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


class DateType(FieldType):
    name = "date"
    option_types = {"min": ((str,), None), "max": ((str,), None)}
    converts_from = frozenset({"text"})

    def check_options(self, options, *, resolve_collection=None):
        from apps.collections.field_types.base import OptionsInvalid

        for key in ("min", "max"):
            if options[key] is not None:
                try:
                    options[key] = format_datetime(parse_datetime(options[key]))
                except ValueError:
                    raise OptionsInvalid(
                        f"{key} must be an RFC 3339 date", key
                    ) from None

    def model_field(self, spec, ctx):
        return models.DateTimeField(
            null=True, db_column=spec.column, unique=spec.unique
        )

    def to_internal(self, value, spec):
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise FieldInvalid("Must be an RFC 3339 date string.", "invalid_type")
        try:
            parsed = parse_datetime(value)
        except (ValueError, OverflowError):
            raise FieldInvalid("Must be an RFC 3339 date.", "invalid_date") from None
        low, high = spec.options.get("min"), spec.options.get("max")
        if low and parsed < parse_datetime(low):
            raise FieldInvalid(f"Must not be before {low}.", "too_early")
        if high and parsed > parse_datetime(high):
            raise FieldInvalid(f"Must not be after {high}.", "too_late")
        return parsed

    def to_json(self, value, spec):
        return format_datetime(value)


register(DateType())
