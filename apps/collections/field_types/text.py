"""`text`: a string, with optional length bounds and a pattern."""

from __future__ import annotations

import regex
from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import (
    FieldInvalid,
    FieldType,
    OptionsInvalid,
    check_min_max,
)
from apps.core.renderers import dumps

MAX_PATTERN_LENGTH = 500
# A pattern is written by an operator but runs on client input: bound its backtracking.
PATTERN_TIMEOUT = 0.05  # seconds


class TextType(FieldType):
    name = "text"
    option_types = {
        "min": ((int,), None),
        "max": ((int,), None),
        "pattern": ((str,), None),
    }
    converts_from = frozenset(
        {"email", "url", "select", "number", "bool", "date", "json", "relation"}
    )

    def check_options(self, options, *, resolve_collection=None):
        check_min_max(options, "length")
        for key in ("min", "max"):
            if options[key] is not None and options[key] < 0:
                raise OptionsInvalid(f"{key} must not be negative", key)
        pattern = options["pattern"]
        if pattern is not None:
            if len(pattern) > MAX_PATTERN_LENGTH:
                raise OptionsInvalid("pattern is too long", "pattern")
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise OptionsInvalid(
                    f"pattern is not a valid regex: {exc}", "pattern"
                ) from None

    def model_field(self, spec, ctx):
        return models.TextField(null=True, db_column=spec.column, unique=spec.unique)

    def to_internal(self, value, spec):
        if value is None:
            return None
        if not isinstance(value, str):
            raise FieldInvalid("Must be a string.", "invalid_type")
        if "\x00" in value:
            raise FieldInvalid("Must not contain NUL characters.")
        if value == "":
            return None
        low, high = spec.options.get("min"), spec.options.get("max")
        if low is not None and len(value) < low:
            raise FieldInvalid(f"Must be at least {low} characters.", "too_short")
        if high is not None and len(value) > high:
            raise FieldInvalid(f"Must be at most {high} characters.", "too_long")
        pattern = spec.options.get("pattern")
        if pattern:
            try:
                matched = regex.search(pattern, value, timeout=PATTERN_TIMEOUT)
            except TimeoutError:
                raise FieldInvalid(
                    "Too costly to check against the pattern; send a shorter value.",
                    "pattern_timeout",
                ) from None
            if not matched:
                raise FieldInvalid(f"Does not match the pattern {pattern}.", "pattern")
        return value

    def convert(self, old_json, spec):
        if old_json is None or isinstance(old_json, str):
            return super().convert(old_json, spec)
        if isinstance(old_json, bool):
            text = "true" if old_json else "false"
        elif isinstance(old_json, (int, float)):
            text = repr(old_json)
        else:
            text = dumps(old_json).decode()
        return super().convert(text, spec)


register(TextType())
