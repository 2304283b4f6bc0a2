"""Immutable in-memory schema of a collection: what models and DDL are derived from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property

from apps.collections.models import Collection, Field

SYSTEM_FIELDS = ("id", "created", "updated")
AUTH_SYSTEM_FIELDS = ("email",)


@dataclass(frozen=True)
class FieldSpec:
    id: str
    name: str
    type: str
    required: bool = False
    unique: bool = False
    hidden: bool = False
    rules: dict = field(default_factory=dict, hash=False, compare=True)
    options: dict = field(default_factory=dict, hash=False, compare=True)

    @property
    def attname(self) -> str:
        return f"f_{self.id}"

    @property
    def column(self) -> str:
        return f"f_{self.id}"

    def with_changes(self, **changes) -> "FieldSpec":
        return replace(self, **changes)


@dataclass(frozen=True)
class IndexSpec:
    """An index over field ids (or system field names), optionally unique."""

    fields: tuple[str, ...]
    unique: bool = False

    def name_for(self, collection_id: str) -> str:
        """Index names are global in PostgreSQL: derive them from the collection id."""
        key = f"{collection_id}:{'u' if self.unique else 'i'}:{','.join(self.fields)}"
        return f"ix_{hashlib.sha1(key.encode()).hexdigest()[:24]}"


@dataclass(frozen=True)
class CollectionSpec:
    id: str
    name: str
    type: str
    table: str
    system: bool
    version: int
    fields: tuple[FieldSpec, ...]
    rules: dict = field(default_factory=dict, hash=False)
    indexes: tuple[IndexSpec, ...] = ()
    #: (version, last change time): a version number from a rolled-back change can be
    #: reused by a later one, the pair cannot.
    stamp: tuple = ()

    @property
    def is_auth(self) -> bool:
        return self.type == Collection.AUTH

    @cached_property
    def input_keys(self) -> frozenset[str]:
        """Every key a record payload may carry (computed once per cached spec)."""
        from apps.collections.field_types import get_type

        keys = {"id"} | ({"email", "password"} if self.is_auth else set())
        for f in self.fields:
            keys.update(get_type(f.type).input_keys(f))
        return frozenset(keys)

    def field_by_name(self, name: str) -> FieldSpec | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def field_by_id(self, field_id: str) -> FieldSpec | None:
        for f in self.fields:
            if f.id == field_id:
                return f
        return None

    def system_field_names(self) -> tuple[str, ...]:
        return SYSTEM_FIELDS + (AUTH_SYSTEM_FIELDS if self.is_auth else ())

    def with_changes(self, **changes) -> "CollectionSpec":
        return replace(self, **changes)

    @classmethod
    def from_rows(cls, collection: Collection, fields: list[Field]) -> "CollectionSpec":
        return cls(
            id=collection.id,
            name=collection.name,
            type=collection.type,
            table=collection.table,
            system=collection.system,
            version=collection.schema_version,
            stamp=(collection.schema_version, collection.updated),
            rules=dict(collection.rules),
            indexes=tuple(
                IndexSpec(tuple(ix["fields"]), bool(ix.get("unique")))
                for ix in collection.indexes
            ),
            fields=tuple(
                FieldSpec(
                    id=f.id,
                    name=f.name,
                    type=f.type,
                    required=f.required,
                    unique=f.unique,
                    hidden=f.hidden,
                    rules=dict(f.rules),
                    options=dict(f.options),
                )
                for f in fields
            ),
        )
