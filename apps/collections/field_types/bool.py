"""`bool`: true or false (unset reads as false)."""

from __future__ import annotations

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType, Unconvertible

TRUE_TEXT = {"true", "1", "yes", "on"}
FALSE_TEXT = {"false", "0", "no", "off", ""}


class BoolType(FieldType):
    name = "bool"
    converts_from = frozenset({"text", "number"})

    def model_field(self, spec, ctx):
        return models.BooleanField(null=True, db_column=spec.column, unique=spec.unique)

    def to_internal(self, value, spec):
        if value is None:
            return None
        if not isinstance(value, bool):
            raise FieldInvalid("Must be true or false.", "invalid_type")
        return value

    def to_json(self, value, spec):
        return bool(value)

    def is_empty(self, value):
        return value is None or value is False

    def convert(self, old_json, spec):
        if isinstance(old_json, str):
            text = old_json.strip().lower()
            if text in TRUE_TEXT:
                return True
            if text in FALSE_TEXT:
                return False
            raise Unconvertible(f"{old_json!r} is not a boolean")
        if isinstance(old_json, (int, float)) and not isinstance(old_json, bool):
            if old_json in (0, 1):
                return bool(old_json)
            raise Unconvertible(f"{old_json!r} is not 0 or 1")
        return super().convert(old_json, spec)


register(BoolType())
