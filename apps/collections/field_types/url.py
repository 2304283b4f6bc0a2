"""`url`: an http(s) URL."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType

MAX_URL = 2048
validate_url = URLValidator(schemes=["http", "https"])


class UrlType(FieldType):
    name = "url"
    converts_from = frozenset({"text", "email", "select"})

    def model_field(self, spec, ctx):
        return models.CharField(
            max_length=MAX_URL, null=True, db_column=spec.column, unique=spec.unique
        )

    def to_internal(self, value, spec):
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise FieldInvalid("Must be a string.", "invalid_type")
        if len(value) > MAX_URL:
            raise FieldInvalid(f"Must be at most {MAX_URL} characters.", "too_long")
        try:
            validate_url(value)
        except ValidationError:
            raise FieldInvalid("Must be a valid http(s) URL.", "invalid_url") from None
        return value


register(UrlType())
