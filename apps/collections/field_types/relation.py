"""`relation`: references to records of another collection (or `users`).

Single relations are a foreign-key column; multiple ones a junction table `r_<field id>`.
Both point at the target's stable table, so the target's own schema changes never touch them.
"""

from __future__ import annotations

from django.db import models

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType, OptionsInvalid
from apps.core.ids import ALPHABET

MAX_RELATED = 1000
ID_CHARS = frozenset(ALPHABET)


def valid_id(value) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 15 and set(value) <= ID_CHARS


class RelationType(FieldType):
    name = "relation"
    option_types = {
        "collection": ((str,), None),
        "multiple": ((bool,), False),
        "cascade_delete": ((bool,), False),
        "max_select": ((int,), None),
    }

    def check_options(self, options, *, resolve_collection=None):
        if not options["collection"]:
            raise OptionsInvalid("collection (the target) is required", "collection")
        if resolve_collection is not None:
            target_id = resolve_collection(options["collection"])
            if target_id is None:
                raise OptionsInvalid(
                    f"target collection {options['collection']!r} does not exist",
                    "collection",
                )
            options["collection"] = target_id
        max_select = options["max_select"]
        if max_select is not None and not (1 <= max_select <= MAX_RELATED):
            raise OptionsInvalid(f"max_select must be 1..{MAX_RELATED}", "max_select")

    def is_many(self, spec):
        return bool(spec.options.get("multiple"))

    def write_name(self, spec):
        return spec.attname if self.is_many(spec) else f"{spec.attname}_id"

    def model_field(self, spec, ctx):
        target = ctx.related_model(spec.options["collection"])
        if self.is_many(spec):
            return models.ManyToManyField(
                target, db_table=f"r_{spec.id}", related_name="+", symmetrical=False
            )
        return models.ForeignKey(
            target,
            null=True,
            on_delete=models.DO_NOTHING,
            db_column=spec.column,
            related_name="+",
            unique=spec.unique,
        )

    def to_internal(self, value, spec):
        if self.is_many(spec):
            if value is None:
                return []
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise FieldInvalid("Must be a list of record ids.", "invalid_type")
            # Linear, and stops at the limit: a 10 MB list of ids must not cost minutes.
            limit = spec.options.get("max_select") or MAX_RELATED
            ids: dict[str, None] = {}
            for item in value:
                if not valid_id(item):
                    raise FieldInvalid("Must contain record ids.", "invalid_id")
                ids[item] = None
                if len(ids) > limit:
                    raise FieldInvalid(f"At most {limit} related records.", "too_many")
            return list(ids)
        if value is None or value == "":
            return None
        if not valid_id(value):
            raise FieldInvalid("Must be a record id.", "invalid_id")
        return value

    def to_json(self, value, spec):
        if self.is_many(spec):
            return list(value or [])
        return value


register(RelationType())
