"""`select`: one value, or several (`multiple: true`), from a fixed list."""

from __future__ import annotations

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import (
    FieldInvalid,
    FieldType,
    OptionsInvalid,
    Unconvertible,
)

MAX_VALUES = 1000


class SelectType(FieldType):
    name = "select"
    option_types = {"values": ((list,), None), "multiple": ((bool,), False)}
    converts_from = frozenset({"text", "email", "url", "number", "bool"})

    def check_options(self, options, *, resolve_collection=None):
        values = options["values"]
        if not values:
            raise OptionsInvalid("values must list at least one choice", "values")
        if len(values) > MAX_VALUES:
            raise OptionsInvalid(f"at most {MAX_VALUES} values", "values")
        if any(not isinstance(v, str) or not v or len(v) > 255 for v in values):
            raise OptionsInvalid("values must be non-empty strings (<=255)", "values")
        if len(set(values)) != len(values):
            raise OptionsInvalid("values must be distinct", "values")

    def model_field(self, spec, ctx):
        if spec.options.get("multiple"):
            return models.JSONField(null=True, db_column=spec.column)
        return models.CharField(
            max_length=255, null=True, db_column=spec.column, unique=spec.unique
        )

    def _check(self, value, spec):
        if not isinstance(value, str):
            raise FieldInvalid("Must be a string choice.", "invalid_type")
        if value not in spec.options["values"]:
            raise FieldInvalid(
                f"Must be one of {spec.options['values']}.", "invalid_choice"
            )
        return value

    def to_internal(self, value, spec):
        if spec.options.get("multiple"):
            if value is None:
                return []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise FieldInvalid("Must be a list of choices.", "invalid_type")
            # Linear in the list: each distinct choice is checked once.
            seen: dict[str, None] = {}
            for item in value:
                if not (isinstance(item, str) and item in seen):
                    seen[self._check(item, spec)] = None
            return list(seen)
        if value is None or value == "":
            return None
        return self._check(value, spec)

    def to_json(self, value, spec):
        if spec.options.get("multiple"):
            return list(value or [])
        return value

    def convert(self, old_json, spec):
        if spec.options.get("multiple"):
            if old_json is None or isinstance(old_json, list):
                return super().convert(old_json, spec)
            return super().convert([self._as_text(old_json)], spec)
        if isinstance(old_json, list):
            if len(old_json) > 1:
                raise Unconvertible("holds more than one value")
            old_json = old_json[0] if old_json else None
        if old_json is None:
            return None
        return super().convert(self._as_text(old_json), spec)

    @staticmethod
    def _as_text(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


register(SelectType())
