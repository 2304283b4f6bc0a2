"""JSON Schema (OpenAPI 3.0) for a route's request and response: from a DRF serializer,
or from type hints (TypedDict, dataclass, list[...], dict, Optional, Literal, builtins)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing

from rest_framework import serializers

_PRIMITIVES = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
}
# Most specific first: BooleanField before nothing, IntegerField before FloatField, ...
_FIELDS: list[tuple[type, dict]] = [
    (serializers.BooleanField, {"type": "boolean"}),
    (serializers.IntegerField, {"type": "integer"}),
    (serializers.FloatField, {"type": "number"}),
    (serializers.DecimalField, {"type": "string", "format": "decimal"}),
    (serializers.DateTimeField, {"type": "string", "format": "date-time"}),
    (serializers.DateField, {"type": "string", "format": "date"}),
    (serializers.EmailField, {"type": "string", "format": "email"}),
    (serializers.URLField, {"type": "string", "format": "uri"}),
    (serializers.UUIDField, {"type": "string", "format": "uuid"}),
    (serializers.CharField, {"type": "string"}),
    (serializers.DictField, {"type": "object"}),
    (serializers.JSONField, {}),
]


def is_serializer(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, serializers.BaseSerializer)


def schema_for(obj) -> dict:
    """A schema for a serializer class or a type; `{}` (anything) when unknown."""
    if obj is None or obj is typing.Any:
        return {}
    if is_serializer(obj):
        return _serializer(obj())
    return _type(obj)


def _serializer(serializer) -> dict:
    if isinstance(serializer, serializers.ListSerializer):
        return {"type": "array", "items": _serializer(serializer.child)}
    properties, required = {}, []
    for name, field in serializer.fields.items():
        if field.write_only and field.read_only:
            continue
        properties[name] = _field(field)
        if field.required:
            required.append(name)
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _field(field) -> dict:
    if isinstance(field, serializers.BaseSerializer):
        schema = _serializer(field)
    elif isinstance(field, serializers.ListField):
        schema = {"type": "array", "items": _field(field.child)}
    elif isinstance(field, serializers.ChoiceField):
        schema = {"enum": list(field.choices)}
    else:
        schema = next((dict(s) for kind, s in _FIELDS if isinstance(field, kind)), {})
    if getattr(field, "allow_null", False):
        schema["nullable"] = True
    if field.help_text:
        schema["description"] = str(field.help_text)
    return schema


def _type(hint) -> dict:
    if hint in _PRIMITIVES:
        return dict(_PRIMITIVES[hint])
    if hint is type(None):
        return {"nullable": True}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        schema = _type(options[0]) if len(options) == 1 else {"anyOf": []}
        if len(options) > 1:
            schema["anyOf"] = [_type(a) for a in options]
        if len(options) < len(args):
            schema["nullable"] = True
        return schema
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple, set):
        return {"type": "array", "items": _type(args[0]) if args else {}}
    if origin is dict or hint is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = _type(args[1])
        return schema
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint)
        schema = {
            "type": "object",
            "properties": {name: _type(h) for name, h in hints.items()},
        }
        required = [n for n in hints if n in getattr(hint, "__required_keys__", ())]
        if required:
            schema["required"] = required
        return schema
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = dataclasses.fields(hint)
        schema = {
            "type": "object",
            "properties": {f.name: _type(hints.get(f.name)) for f in fields},
        }
        required = [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if required:
            schema["required"] = required
        return schema
    return {}
