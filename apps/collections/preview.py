"""What a schema change would do to stored data, before it is applied (issue 14).

`preview_update` parses the change exactly as `collection_update` does, then looks at the
real table: rows a retype or a tighter option would fail, rows a new `required` leaves
empty, duplicates a new unique field or index meets, values a removed field drops. Last,
it runs the real update in a transaction that is always rolled back, so `applies` says
what "Apply" will do, whatever the checks above missed.
"""

from __future__ import annotations

from django.db import DatabaseError, transaction
from django.db.models import Count

from apps.collections import schema_input, services
from apps.collections.dynamic import ddl
from apps.collections.dynamic.factory import build_model
from apps.collections.field_types import FieldInvalid, Unconvertible, get_type
from apps.collections.representation import collection_names_by_id, field_to_json
from apps.collections.spec import CollectionSpec, FieldSpec, IndexSpec
from apps.core.exceptions import ApiError

EXAMPLES = 5


class _Rollback(Exception):
    pass


def _shown(value) -> object:
    """A stored value as the API shows it, cut short for a preview."""
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "…"
    return value


def _values(model, attname: str):
    return ddl._stored_values(model, attname)


def _problem(kind: str, field: str | None, message: str, severity: str) -> dict:
    return {
        "kind": kind,
        "field": field,
        "message": message,
        "severity": severity,  # "error": Apply fails; "warning": data kept, but see
        "count": 0,
        "examples": [],
    }


def _add_example(problem: dict, record_id, value) -> None:
    problem["count"] += 1
    if len(problem["examples"]) < EXAMPLES:
        problem["examples"].append({"id": record_id, "value": _shown(value)})


def _conversion(model, old: FieldSpec, new: FieldSpec) -> dict | None:
    """Values the new type or options refuse (a retype fails on them; a tighter option on
    the same type keeps them, but their next write is refused)."""
    old_type, new_type = get_type(old.type), get_type(new.type)
    if old_type is None or new_type is None or old_type.is_many(old):
        return None
    retype = old.type != new.type or bool(old.options.get("multiple")) != bool(
        new.options.get("multiple")
    )
    if not retype and old.options == new.options:
        return None
    if "relation" in (old.type, new.type):
        return None  # refused outright by the DDL; the trial run says so
    if retype:
        problem = _problem(
            "unconvertible",
            new.name,
            f"{old.type} → {new.type}: these values cannot be converted; "
            "Apply fails while they are stored.",
            "error",
        )
    else:
        problem = _problem(
            "violates_options",
            new.name,
            "These values do not fit the new options; they are kept, but the records "
            "cannot be saved again until they are changed.",
            "warning",
        )
    for pk, value in _values(model, old.attname):
        if value is None:
            continue
        shown = old_type.to_json(value, old)
        try:
            new_type.convert(shown, new)
        except (Unconvertible, FieldInvalid, ValueError, TypeError):
            _add_example(problem, pk, shown)
    return problem if problem["count"] else None


def _newly_required(model, old: FieldSpec | None, new: FieldSpec) -> dict | None:
    if not new.required or (old is not None and old.required):
        return None
    problem = _problem(
        "required_empty",
        new.name,
        "These records have no value; they are kept, but cannot be saved again "
        "until one is set.",
        "warning",
    )
    new_type = get_type(new.type)
    if old is None:  # a new field: every stored record starts empty
        total = model.objects.count()
        for pk in model.objects.order_by("pk").values_list("pk", flat=True)[:EXAMPLES]:
            problem["examples"].append({"id": pk, "value": None})
        problem["count"] = total
        return problem if total else None
    old_type = get_type(old.type)
    if old_type.is_many(old):
        empty = model.objects.filter(**{f"{old.attname}__isnull": True}).distinct()
        problem["count"] = empty.count()
        for pk in empty.order_by("pk").values_list("pk", flat=True)[:EXAMPLES]:
            problem["examples"].append({"id": pk, "value": []})
        return problem if problem["count"] else None
    for pk, value in _values(model, old.attname):
        shown = None if value is None else old_type.to_json(value, old)
        if value is None or new_type.is_empty(shown):
            _add_example(problem, pk, shown)
    return problem if problem["count"] else None


def _duplicates(
    model, spec: CollectionSpec, refs: tuple[str, ...], label: str, old: CollectionSpec
) -> dict | None:
    """Groups of rows sharing the values of a new unique field or index (NULLs never
    collide in a unique constraint)."""
    attnames = []
    for ref in refs:
        field = old.field_by_id(ref)
        if field is None:
            if ref in spec.system_field_names():
                attnames.append(ref)
                continue
            return None  # a field added by this change: empty everywhere
        if get_type(field.type).is_many(field):
            return None
        attnames.append(get_type(field.type).write_name(field))
    rows = model.objects.all()
    for attname in attnames:
        rows = rows.filter(**{f"{attname}__isnull": False})
    groups = (
        rows.order_by()
        .values(*attnames)
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("-n")
    )
    problem = _problem(
        "duplicates",
        label,
        "These records share a value that would have to be unique; Apply fails "
        "while they do.",
        "error",
    )
    for group in groups[:1000]:
        problem["count"] += group["n"]
        if len(problem["examples"]) >= EXAMPLES:
            continue
        same = {k: v for k, v in group.items() if k != "n"}
        ids = model.objects.filter(**same).order_by("pk").values_list("pk", flat=True)
        value = same[attnames[0]] if len(attnames) == 1 else list(same.values())
        for pk in ids[: EXAMPLES - len(problem["examples"])]:
            problem["examples"].append({"id": pk, "value": _shown(value)})
    return problem if problem["count"] else None


def _removed(model, field: FieldSpec) -> dict | None:
    if get_type(field.type).is_many(field):
        count = (
            model.objects.filter(**{f"{field.attname}__isnull": False})
            .distinct()
            .count()
        )
    else:
        count = model.objects.filter(**{f"{field.attname}__isnull": False}).count()
    if not count:
        return None
    problem = _problem(
        "data_lost",
        field.name,
        "Removing the field deletes the values these records hold.",
        "warning",
    )
    problem["count"] = count
    return problem


def _index_label(spec: CollectionSpec, index: IndexSpec) -> str:
    names = [
        (spec.field_by_id(ref).name if spec.field_by_id(ref) else ref)
        for ref in index.fields
    ]
    return ", ".join(names)


def _diff(old: CollectionSpec, new: CollectionSpec) -> dict:
    names = collection_names_by_id()
    old_fields = {f.id: f for f in old.fields}
    new_ids = {f.id for f in new.fields}
    changed = []
    for f in new.fields:
        before = old_fields.get(f.id)
        if before is None or before.with_changes(name=f.name) == f:
            continue
        was, now = field_to_json(before, names), field_to_json(f, names)
        changes = {
            key: {"from": was[key], "to": now[key]}
            for key in ("type", "required", "unique", "hidden")
            if was[key] != now[key]
        }
        for part in ("options", "rules"):
            old_part, new_part = was[part] or {}, now[part] or {}
            for key in sorted(set(old_part) | set(new_part)):
                if old_part.get(key) != new_part.get(key):
                    changes[f"{part}.{key}"] = {
                        "from": old_part.get(key),
                        "to": new_part.get(key),
                    }
        changed.append({"name": f.name, "changes": changes})
    return {
        "name": {"from": old.name, "to": new.name} if old.name != new.name else None,
        "added": [
            field_to_json(f, names) for f in new.fields if f.id not in old_fields
        ],
        "removed": [f.name for f in old.fields if f.id not in new_ids],
        "renamed": [
            {"from": old_fields[f.id].name, "to": f.name}
            for f in new.fields
            if f.id in old_fields and old_fields[f.id].name != f.name
        ],
        "changed": changed,
        "rules_changed": old.rules != new.rules,
        "indexes_added": [
            {"fields": _index_label(new, ix), "unique": ix.unique}
            for ix in new.indexes
            if ix not in old.indexes
        ],
        "indexes_removed": [
            {"fields": _index_label(old, ix), "unique": ix.unique}
            for ix in old.indexes
            if ix not in new.indexes
        ],
    }


def _is_empty_diff(diff: dict) -> bool:
    return not any(
        diff[key]
        for key in (
            "name",
            "added",
            "removed",
            "renamed",
            "changed",
            "rules_changed",
            "indexes_added",
            "indexes_removed",
        )
    )


def _problems(old: CollectionSpec, new: CollectionSpec) -> list[dict]:
    model = build_model(old)
    old_fields = {f.id: f for f in old.fields}
    new_ids = {f.id for f in new.fields}
    found: list[dict | None] = []
    for field in old.fields:
        if field.id not in new_ids:
            found.append(_removed(model, field))
    for field in new.fields:
        previous = old_fields.get(field.id)
        if previous is not None:
            found.append(_conversion(model, previous, field))
        found.append(_newly_required(model, previous, field))
        if previous is not None and field.unique and not previous.unique:
            found.append(_duplicates(model, old, (field.id,), field.name, old))
    for index in new.indexes:
        if index.unique and index not in old.indexes:
            label = f"unique index ({_index_label(new, index)})"
            found.append(_duplicates(model, old, index.fields, label, old))
    return [p for p in found if p]


def _trial(actor, name: str, data) -> dict | None:
    """Run the real update and roll it back: the error Apply would meet, or None."""
    error: dict | None = None
    try:
        with ddl.schema_transaction():
            try:
                services.collection_update(actor=actor, name=name, data=data)
            except ApiError as exc:
                error = {
                    "status": exc.status,
                    "errors": [item.as_dict() for item in exc.errors],
                }
            raise _Rollback
    except _Rollback:
        pass
    except DatabaseError:
        error = {
            "status": 400,
            "errors": [
                {"code": "schema_change_failed", "message": "The database refused it."}
            ],
        }
    return error


def preview_update(*, actor, name: str, data) -> dict:
    """The diff of a collection's definition and what the change would do to its
    records; raises the same ApiError as `collection_update` for an invalid change."""
    services.require_schema_access(actor)
    with transaction.atomic():
        current = services._fresh_spec(services.get_collection(name))
        new = schema_input.parse_update(current, data, services.resolve_collection_ref)
        if new.name != current.name:
            services._refuse_taken_name(new)
        problems = _problems(current, new)
    diff = _diff(current, new)
    if _is_empty_diff(diff):
        return {"diff": diff, "unchanged": True, "problems": [], "applies": True}
    error = _trial(actor, name, data)
    return {
        "diff": diff,
        "unchanged": False,
        "problems": problems,
        "applies": error is None,
        "error": error,
    }
