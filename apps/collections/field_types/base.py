"""The small interface every field type implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from django.db import models

if TYPE_CHECKING:
    from apps.collections.spec import FieldSpec


class FieldInvalid(Exception):
    """A value a client sent does not fit the field; message is safe to show."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Unconvertible(Exception):
    """A stored value cannot be converted to the field's new type."""


class OptionsInvalid(Exception):
    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.option = option


@dataclass
class ModelContext:
    """What a type needs from outside to build its model field."""

    related_model: Callable[[str], type[models.Model]]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StagedWrite(Protocol):
    """A field value written with side effects (stored files): prepared before the
    record's transaction, applied inside it, discarded if it does not commit."""

    def apply(self, current: Any) -> Any:
        """The value to store, given the stored one (inside the write's transaction)."""

    def discard(self) -> None:
        """Undo what was prepared (the write failed or was refused)."""


class FieldType:
    """Base class. Subclasses set `name`, `option_types` and implement the hooks."""

    name: ClassVar[str]
    #: values go through stage_write (files), not to_internal
    staged: ClassVar[bool] = False
    #: option name -> (accepted python types, default)
    option_types: ClassVar[dict[str, tuple[tuple[type, ...], Any]]] = {}
    #: types whose values this one can take over on a retype
    converts_from: ClassVar[frozenset[str]] = frozenset()

    # --- options ------------------------------------------------------------------
    def clean_options(self, options: dict, *, resolve_collection=None) -> dict:
        """Check option names and types, fill defaults; raises OptionsInvalid."""
        if not isinstance(options, dict):
            raise OptionsInvalid("options must be an object")
        unknown = sorted(set(options) - set(self.option_types))
        if unknown:
            raise OptionsInvalid(
                f"unknown option(s) {unknown} for type {self.name}; "
                f"allowed: {sorted(self.option_types)}",
                unknown[0],
            )
        cleaned: dict = {}
        for key, (types, default) in self.option_types.items():
            value = options.get(key, default)
            if value is not None and not isinstance(value, types):
                raise OptionsInvalid(f"option {key} has the wrong type", key)
            if isinstance(value, bool) and bool not in types:
                raise OptionsInvalid(f"option {key} has the wrong type", key)
            cleaned[key] = value
        self.check_options(cleaned, resolve_collection=resolve_collection)
        return cleaned

    def check_options(self, options: dict, *, resolve_collection=None) -> None:
        """Type-specific option checks (ranges, consistency)."""

    def is_many(self, spec: "FieldSpec") -> bool:
        """True when the field is stored outside the row (a many-to-many table)."""
        return False

    # --- storage ------------------------------------------------------------------
    def write_name(self, spec: "FieldSpec") -> str:
        """The model attribute that takes the raw stored value (a FK takes `<name>_id`)."""
        return spec.attname

    def model_field(self, spec: "FieldSpec", ctx: ModelContext) -> models.Field:
        raise NotImplementedError

    # --- values ---------------------------------------------------------------------
    def to_internal(self, value: Any, spec: "FieldSpec") -> Any:
        """Validate a client value and return what is stored; raises FieldInvalid."""
        raise NotImplementedError

    def to_json(self, value: Any, spec: "FieldSpec") -> Any:
        """Render a stored value for the API."""
        return value

    def is_empty(self, value: Any) -> bool:
        return value is None or value == "" or value == []

    # --- staged values (staged = True) ------------------------------------------------
    def input_keys(self, spec: "FieldSpec") -> tuple[str, ...]:
        """The payload keys that write this field (`docs`, `docs+`, `docs-`)."""
        return (spec.name,)

    def stage_write(
        self, spec: "FieldSpec", raw: dict, *, collection_id: str, record_id: str
    ) -> StagedWrite:
        """Prepare a write from the payload's `input_keys` values; raises FieldInvalid."""
        raise NotImplementedError

    def records_deleted(
        self, spec: "FieldSpec", *, collection_id: str, record_ids: list[str]
    ) -> None:
        """Inside a delete's transaction: release what the records' values held."""

    def convert(self, old_json: Any, spec: "FieldSpec") -> Any:
        """Convert a value rendered by the old type; raises Unconvertible."""
        try:
            return self.to_internal(old_json, spec)
        except FieldInvalid as exc:
            raise Unconvertible(exc.message) from None


def check_min_max(options: dict, what: str) -> None:
    low, high = options.get("min"), options.get("max")
    for key in ("min", "max"):
        value = options.get(key)
        if value is not None and (not _is_number(value) or value != value):
            raise OptionsInvalid(f"{key} must be a number", key)
    if low is not None and high is not None and low > high:
        raise OptionsInvalid(f"min must not exceed max ({what})", "min")
