"""Field-type registry: one module per type, registered at start-up (DESIGN.md decision 2)."""

from __future__ import annotations

from apps.collections.field_types.base import (
    FieldInvalid,
    FieldType,
    ModelContext,
    Unconvertible,
)

_REGISTRY: dict[str, FieldType] = {}

BUILTIN_MODULES = (
    "text",
    "number",
    "bool",
    "email",
    "url",
    "date",
    "select",
    "json",
    "relation",
)


def register(field_type: FieldType) -> FieldType:
    _REGISTRY[field_type.name] = field_type
    return field_type


def get_type(name: str) -> FieldType | None:
    return _REGISTRY.get(name)


def type_names() -> list[str]:
    return sorted(_REGISTRY)


def load_builtin_types() -> None:
    import importlib

    for module in BUILTIN_MODULES:
        importlib.import_module(f"apps.collections.field_types.{module}")


__all__ = [
    "FieldInvalid",
    "FieldType",
    "ModelContext",
    "Unconvertible",
    "get_type",
    "load_builtin_types",
    "register",
    "type_names",
]
