"""`json`: any JSON value, bounded in size."""

from __future__ import annotations

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType, OptionsInvalid
from apps.core.renderers import dumps

DEFAULT_MAX_SIZE = 1024 * 1024


class JsonType(FieldType):
    name = "json"
    option_types = {"max_size": ((int,), DEFAULT_MAX_SIZE)}
    converts_from = frozenset(
        {"text", "number", "bool", "email", "url", "date", "select"}
    )

    def check_options(self, options, *, resolve_collection=None):
        if options["max_size"] is not None and options["max_size"] <= 0:
            raise OptionsInvalid("max_size must be positive", "max_size")

    def model_field(self, spec, ctx):
        return models.JSONField(null=True, db_column=spec.column)

    def to_internal(self, value, spec):
        if value is None:
            return None
        size = len(dumps(value))
        limit = spec.options.get("max_size") or DEFAULT_MAX_SIZE
        if size > limit:
            raise FieldInvalid(f"Must be at most {limit} bytes of JSON.", "too_large")
        if isinstance(value, float) and value != value:
            raise FieldInvalid("NaN is not JSON.")
        return value


register(JsonType())
