"""`email`: an email address."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType

validate_email = EmailValidator()


class EmailType(FieldType):
    name = "email"
    converts_from = frozenset({"text", "url", "select"})

    def model_field(self, spec, ctx):
        return models.CharField(
            max_length=254, null=True, db_column=spec.column, unique=spec.unique
        )

    def to_internal(self, value, spec):
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise FieldInvalid("Must be a string.", "invalid_type")
        if len(value) > 254:
            raise FieldInvalid("Must be at most 254 characters.", "too_long")
        try:
            validate_email(value)
        except ValidationError:
            raise FieldInvalid(
                "Must be a valid email address.", "invalid_email"
            ) from None
        return value


register(EmailType())
