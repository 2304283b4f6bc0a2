"""`number`: a finite float, optionally integer-only, with bounds."""

from __future__ import annotations

import math

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import (
    FieldInvalid,
    FieldType,
    Unconvertible,
    check_min_max,
)

# Beyond 2**53 a double cannot hold every integer exactly: refuse rather than round.
SAFE_INTEGER = 2**53


class NumberType(FieldType):
    name = "number"
    option_types = {
        "min": ((int, float), None),
        "max": ((int, float), None),
        "integer": ((bool,), False),
    }
    converts_from = frozenset({"text", "bool", "select"})

    def check_options(self, options, *, resolve_collection=None):
        check_min_max(options, "value")

    def model_field(self, spec, ctx):
        return models.FloatField(null=True, db_column=spec.column, unique=spec.unique)

    def to_internal(self, value, spec):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldInvalid("Must be a number.", "invalid_type")
        if isinstance(value, int) and abs(value) > SAFE_INTEGER:
            raise FieldInvalid("Must be between -2^53 and 2^53.", "out_of_range")
        number = float(value)
        if not math.isfinite(number):
            raise FieldInvalid("Must be a finite number.", "out_of_range")
        if spec.options.get("integer") and not number.is_integer():
            raise FieldInvalid("Must be an integer.", "not_integer")
        if spec.options.get("integer") and abs(number) > SAFE_INTEGER:
            # 2**64 arrives as a float (the JSON parser's choice): same bound as for ints.
            raise FieldInvalid("Must be between -2^53 and 2^53.", "out_of_range")
        low, high = spec.options.get("min"), spec.options.get("max")
        if low is not None and number < low:
            raise FieldInvalid(f"Must be at least {low}.", "too_small")
        if high is not None and number > high:
            raise FieldInvalid(f"Must be at most {high}.", "too_large")
        return number

    def to_json(self, value, spec):
        if value is None:
            return None
        if value.is_integer() and abs(value) <= SAFE_INTEGER:
            return int(value)
        return value

    def convert(self, old_json, spec):
        if isinstance(old_json, bool):
            old_json = int(old_json)
        elif isinstance(old_json, str):
            text = old_json.strip()
            if text == "":
                return None
            try:
                old_json = int(text) if text.lstrip("+-").isdigit() else float(text)
            except ValueError:
                raise Unconvertible(f"{old_json!r} is not a number") from None
        return super().convert(old_json, spec)


register(NumberType())
