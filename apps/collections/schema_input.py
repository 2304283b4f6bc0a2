"""Turn schema API payloads into CollectionSpecs, with 400s that name the offending part."""

from __future__ import annotations

from collections.abc import Callable

from apps.collections import names
from apps.collections.field_types import get_type, type_names
from apps.collections.field_types.base import OptionsInvalid
from apps.collections.models import RULE_ACTIONS, Collection
from apps.collections.spec import CollectionSpec, FieldSpec, IndexSpec
from apps.core.exceptions import InvalidInput
from apps.core.ids import new_id

COLLECTION_KEYS = {
    "id",
    "name",
    "type",
    "fields",
    "rules",
    "indexes",
    "system",
    "created",
    "updated",
    "schema_version",
}
WRITABLE_COLLECTION_KEYS = {"name", "type", "fields", "rules", "indexes"}
FIELD_KEYS = {"id", "name", "type", "required", "unique", "hidden", "rules", "options"}
FIELD_RULE_KEYS = ("read", "write")
MAX_FIELDS = 200
MAX_INDEXES = 32
MAX_INDEX_FIELDS = 8
MAX_RULE_LENGTH = 10_000

ResolveCollection = Callable[[str], "str | None"]


def _require_dict(value, param: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidInput("Must be a JSON object.", code="invalid_type", param=param)
    return value


def _refuse_unknown(
    data: dict, allowed: set[str], param: str | None, ignore=()
) -> None:
    unknown = sorted(set(data) - allowed - set(ignore))
    if unknown:
        where = f"{param}." if param else ""
        raise InvalidInput(
            f"Unknown key(s) {unknown}; allowed: {sorted(allowed)}.",
            code="unknown_field",
            param=f"{where}{unknown[0]}",
        )


def _bool(data: dict, key: str, param: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(
            "Must be true or false.", code="invalid_type", param=f"{param}.{key}"
        )
    return value


def parse_rule(value, param: str):
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(
            "A rule is null or an expression string.", code="invalid_type", param=param
        )
    if len(value) > MAX_RULE_LENGTH:
        raise InvalidInput(
            f"A rule is at most {MAX_RULE_LENGTH} characters.",
            code="too_long",
            param=param,
        )
    return value


def parse_rules(value, current: dict | None, param: str = "rules") -> dict:
    rules = {action: None for action in RULE_ACTIONS}
    if current:
        rules.update(current)
    if value is None:
        return rules
    data = _require_dict(value, param)
    _refuse_unknown(data, set(RULE_ACTIONS), param)
    for action in RULE_ACTIONS:
        if action in data:
            rules[action] = parse_rule(data[action], f"{param}.{action}")
    return rules


def _parse_field(
    data,
    index: int,
    existing: dict[str, FieldSpec],
    reserved: frozenset[str],
    resolve: ResolveCollection,
) -> FieldSpec:
    param = f"fields.{index}"
    data = _require_dict(data, param)
    _refuse_unknown(data, FIELD_KEYS, param, ignore=("system",))
    field_id = data.get("id")
    if field_id is not None:
        if not isinstance(field_id, str) or field_id not in existing:
            raise InvalidInput(
                f"No field with id {field_id!r} in this collection; leave `id` out "
                "to add a new field.",
                code="unknown_field_id",
                param=f"{param}.id",
            )
    previous = existing.get(field_id) if field_id else None
    name = names.check_name(
        data.get("name"), kind="field", param=f"{param}.name", reserved=reserved
    )
    type_name = data.get("type", previous.type if previous else None)
    field_type = get_type(type_name) if isinstance(type_name, str) else None
    if field_type is None:
        raise InvalidInput(
            f"Unknown field type {type_name!r}; choose one of {type_names()}.",
            code="invalid_type",
            param=f"{param}.type",
        )
    try:
        options = field_type.clean_options(
            data.get("options", {}) or {}, resolve_collection=resolve
        )
    except OptionsInvalid as exc:
        where = f"{param}.options" + (f".{exc.option}" if exc.option else "")
        raise InvalidInput(
            f"Field {name!r}: {exc.message}.", code="invalid_option", param=where
        ) from None
    field_rules = {key: None for key in FIELD_RULE_KEYS}
    raw_rules = data.get("rules")
    if raw_rules is not None:
        _refuse_unknown(
            _require_dict(raw_rules, f"{param}.rules"),
            set(FIELD_RULE_KEYS),
            f"{param}.rules",
        )
        field_rules = {
            key: parse_rule(raw_rules.get(key), f"{param}.rules.{key}")
            for key in FIELD_RULE_KEYS
        }
    spec = FieldSpec(
        id=field_id or new_id(),
        name=name,
        type=type_name,
        required=_bool(data, "required", param),
        unique=_bool(data, "unique", param),
        hidden=_bool(data, "hidden", param),
        rules=field_rules,
        options=options,
    )
    if spec.unique and field_type.is_many(spec):
        raise InvalidInput(
            f"Field {name!r}: a multiple relation cannot be unique.",
            code="invalid_option",
            param=f"{param}.unique",
        )
    if spec.unique and type_name in {"json"} | (
        {"select"} if options.get("multiple") else set()
    ):
        raise InvalidInput(
            f"Field {name!r}: {type_name} values with several entries cannot be unique.",
            code="invalid_option",
            param=f"{param}.unique",
        )
    return spec


def parse_fields(
    value, current: CollectionSpec | None, ctype: str, resolve
) -> tuple[FieldSpec, ...]:
    if not isinstance(value, list):
        raise InvalidInput(
            "fields must be a list.", code="invalid_type", param="fields"
        )
    if len(value) > MAX_FIELDS:
        raise InvalidInput(
            f"At most {MAX_FIELDS} fields.", code="too_many", param="fields"
        )
    existing = {f.id: f for f in current.fields} if current else {}
    reserved = names.API_RESERVED | (
        names.AUTH_RESERVED if ctype == Collection.AUTH else frozenset()
    )
    fields: list[FieldSpec] = []
    seen_keys: dict[str, str] = {}
    seen_ids: set[str] = set()
    for index, item in enumerate(value):
        spec = _parse_field(item, index, existing, reserved, resolve)
        key = names.name_key(spec.name)
        if key in seen_keys:
            raise InvalidInput(
                f"Field names {seen_keys[key]!r} and {spec.name!r} collide "
                "(names are compared without case).",
                code="duplicate_name",
                param=f"fields.{index}.name",
            )
        if spec.id in seen_ids:
            raise InvalidInput(
                "A field id appears twice.",
                code="duplicate_id",
                param=f"fields.{index}.id",
            )
        seen_keys[key] = spec.name
        seen_ids.add(spec.id)
        fields.append(spec)
    return tuple(fields)


def _system_names(ctype: str) -> tuple[str, ...]:
    return ("id", "created", "updated") + (
        ("email",) if ctype == Collection.AUTH else ()
    )


def parse_indexes(
    value, fields: tuple[FieldSpec, ...], ctype: str
) -> tuple[IndexSpec, ...]:
    if not isinstance(value, list):
        raise InvalidInput(
            "indexes must be a list.", code="invalid_type", param="indexes"
        )
    if len(value) > MAX_INDEXES:
        raise InvalidInput(
            f"At most {MAX_INDEXES} indexes.", code="too_many", param="indexes"
        )
    by_name = {f.name: f for f in fields}
    system = _system_names(ctype)
    result: list[IndexSpec] = []
    for index, item in enumerate(value):
        param = f"indexes.{index}"
        item = _require_dict(item, param)
        _refuse_unknown(item, {"fields", "unique"}, param, ignore=("name",))
        refs = item.get("fields")
        if not isinstance(refs, list) or not refs or len(refs) > MAX_INDEX_FIELDS:
            raise InvalidInput(
                f"An index lists 1 to {MAX_INDEX_FIELDS} field names.",
                code="invalid",
                param=f"{param}.fields",
            )
        ids: list[str] = []
        for ref in refs:
            if isinstance(ref, str) and ref in system:
                ids.append(ref)
                continue
            field = by_name.get(ref) if isinstance(ref, str) else None
            if field is None:
                raise InvalidInput(
                    f"Index field {ref!r} is not a field of this collection.",
                    code="unknown_field",
                    param=f"{param}.fields",
                )
            if get_type(field.type).is_many(field):
                raise InvalidInput(
                    f"Field {ref!r} is a multiple relation and cannot be indexed.",
                    code="invalid",
                    param=f"{param}.fields",
                )
            ids.append(field.id)
        if len(set(ids)) != len(ids):
            raise InvalidInput(
                "An index names a field twice.", code="invalid", param=f"{param}.fields"
            )
        spec = IndexSpec(tuple(ids), _bool(item, "unique", param))
        if spec in result:
            raise InvalidInput(
                "The same index is listed twice.", code="duplicate", param=param
            )
        result.append(spec)
    return tuple(result)


def parse_create(data, resolve: ResolveCollection) -> CollectionSpec:
    data = _require_dict(data, None)
    _refuse_unknown(data, WRITABLE_COLLECTION_KEYS, None, ignore=("id",))
    name = names.check_name(
        data.get("name"),
        kind="collection",
        param="name",
        reserved=names.COLLECTION_RESERVED,
    )
    ctype = data.get("type", Collection.BASE)
    if ctype != Collection.BASE:
        raise InvalidInput(
            'Only "base" collections can be created; "auth" is the built-in `users` collection.'
            if ctype == Collection.AUTH
            else f"Unknown collection type {ctype!r}.",
            code="invalid_type",
            param="type",
        )
    collection_id = new_id()
    this = {name: collection_id, collection_id: collection_id}

    def resolve_with_self(ref: str) -> str | None:
        return this.get(ref) or resolve(ref)

    fields = parse_fields(data.get("fields", []), None, ctype, resolve_with_self)
    return CollectionSpec(
        id=collection_id,
        name=name,
        type=ctype,
        table=Collection.table_for(collection_id),
        system=False,
        version=1,
        fields=fields,
        rules=parse_rules(data.get("rules"), None),
        indexes=parse_indexes(data.get("indexes", []), fields, ctype),
    )


def parse_update(
    current: CollectionSpec, data, resolve: ResolveCollection
) -> CollectionSpec:
    data = _require_dict(data, None)
    _refuse_unknown(
        data,
        WRITABLE_COLLECTION_KEYS,
        None,
        ignore=("id", "system", "created", "updated", "schema_version"),
    )
    name = current.name
    if "name" in data and data["name"] != current.name:
        if current.system:
            raise InvalidInput(
                "System collections cannot be renamed.",
                code="system_collection",
                param="name",
            )
        name = names.check_name(
            data["name"],
            kind="collection",
            param="name",
            reserved=names.COLLECTION_RESERVED,
        )
    if "type" in data and data["type"] != current.type:
        raise InvalidInput(
            "A collection's type cannot change.", code="immutable", param="type"
        )

    def resolve_with_self(ref: str) -> str | None:
        return current.id if ref in (name, current.id) else resolve(ref)

    fields = current.fields
    if "fields" in data:
        fields = parse_fields(data["fields"], current, current.type, resolve_with_self)
    if "indexes" in data:
        indexes = parse_indexes(data["indexes"], fields, current.type)
    else:
        kept = {f.id for f in fields} | set(_system_names(current.type))
        indexes = tuple(ix for ix in current.indexes if set(ix.fields) <= kept)
    return current.with_changes(
        name=name,
        fields=fields,
        rules=parse_rules(data.get("rules"), current.rules),
        indexes=indexes,
        version=current.version + 1,
        stamp=(),
    )
