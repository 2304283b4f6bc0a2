"""DDL for collections through Django's schema editor; callers hold the transaction.

A change is applied as a sequence of small steps, each against a model built from the
schema state at that step, so SQLite's table rebuilds never drop a column added earlier.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, models, transaction

from apps.collections.dynamic.factory import build_model
from apps.collections.field_types import (
    FieldInvalid,
    Unconvertible,
    get_type,
)
from apps.collections.spec import CollectionSpec, FieldSpec, IndexSpec
from apps.core.exceptions import InvalidInput


@contextlib.contextmanager
def schema_transaction() -> Iterator[None]:
    """One transaction for definitions and DDL; SQLite needs FK checks off around it."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.constraint_checks_disabled(), transaction.atomic():
            yield
    else:
        with transaction.atomic():
            yield


def _model_field(model: type[models.Model], spec: FieldSpec) -> models.Field:
    return model._meta.get_field(spec.attname)


def _index_object(model: type[models.Model], collection_id: str, index: IndexSpec):
    name = index.name_for(collection_id)
    for obj in list(model._meta.indexes) + list(model._meta.constraints):
        if obj.name == name:
            return obj
    raise LookupError(name)


def create_table(spec: CollectionSpec) -> None:
    with connection.schema_editor() as editor:
        editor.create_model(build_model(spec))


def drop_table(spec: CollectionSpec) -> None:
    with connection.schema_editor() as editor:
        editor.delete_model(build_model(spec))


def _storage_signature(spec: CollectionSpec, field: FieldSpec):
    """What the column looks like; equal signatures need no DDL (renames, rules...)."""
    model = build_model(spec.with_changes(fields=(field,), indexes=()))
    _, path, args, kwargs = _model_field(model, field).deconstruct()
    return path, args, sorted((k, repr(v)) for k, v in kwargs.items())


def _replace_field(spec: CollectionSpec, field: FieldSpec) -> CollectionSpec:
    return spec.with_changes(
        fields=tuple(field if f.id == field.id else f for f in spec.fields)
    )


CONVERT_BATCH = 2000


def _stored_values(model, attname: str):
    """(pk, value) of every row, in keyset batches.

    Not `.iterator()`: on PostgreSQL that is a server-side cursor, and one abandoned by a
    failed conversion is closed later by the garbage collector, in the middle of another
    query on the same connection, which deadlocks psycopg.
    """
    last = None
    while True:
        rows = model.objects.order_by("pk")
        if last is not None:
            rows = rows.filter(pk__gt=last)
        batch = list(rows.values_list("pk", attname)[:CONVERT_BATCH])
        yield from batch
        if len(batch) < CONVERT_BATCH:
            return
        last = batch[-1][0]


def _convert_values(model, old: FieldSpec, new: FieldSpec) -> list[tuple[str, object]]:
    """Convert every stored value up front, so a failure changes nothing."""
    old_type, new_type = get_type(old.type), get_type(new.type)
    converted = []
    for pk, value in _stored_values(model, old.attname):
        if value is None:
            continue
        try:
            converted.append((pk, new_type.convert(old_type.to_json(value, old), new)))
        except (Unconvertible, FieldInvalid) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise InvalidInput(
                f"Cannot convert field {old.name!r} from {old.type} to {new.type}: "
                f"record {pk} holds a value that does not fit ({message}).",
                code="unconvertible",
                param="fields",
            ) from None
    return converted


def _emptied_column_via_text(
    editor, state: CollectionSpec, old: FieldSpec, new: FieldSpec
):
    """PostgreSQL has no cast between some column types (boolean, double precision,
    timestamp): move the emptied column through text, which every type casts to and from."""
    old_type = _model_field(build_model(state), old).db_type(connection)
    new_type = _model_field(build_model(_replace_field(state, new)), new).db_type(
        connection
    )
    if (
        connection.vendor != "postgresql"
        or old_type == new_type
        or "text" in (old_type, new_type)
    ):
        return state, old
    text = old.with_changes(type="text", options={})
    before, text_state = build_model(state), _replace_field(state, text)
    middle = build_model(text_state)
    editor.alter_field(before, _model_field(before, old), _model_field(middle, text))
    return text_state, text


def _alter_field(editor, state: CollectionSpec, old: FieldSpec, new: FieldSpec):
    before = build_model(state)
    after_state = _replace_field(state, new)
    after = build_model(after_state)
    relation = "relation" in (old.type, new.type)
    if relation and (
        old.type != new.type
        or old.options.get("collection") != new.options.get("collection")
        or bool(old.options.get("multiple")) != bool(new.options.get("multiple"))
    ):
        raise InvalidInput(
            f"Field {old.name!r}: a relation cannot be converted to another type, target "
            "or cardinality; add a new field and remove this one instead.",
            code="unconvertible",
            param="fields",
        )
    values: list[tuple[str, object]] | None = None
    if old.type != new.type or old.options.get("multiple") != new.options.get(
        "multiple"
    ):
        values = _convert_values(before, old, new)
        before.objects.update(**{old.attname: None})
        state, old = _emptied_column_via_text(editor, state, old, new)
        before = build_model(state)
    editor.alter_field(before, _model_field(before, old), _model_field(after, new))
    if values:
        objs = [after(pk=pk, **{new.attname: value}) for pk, value in values]
        after.objects.bulk_update(objs, [new.attname], batch_size=500)
    return after_state


def apply_changes(old: CollectionSpec, new: CollectionSpec) -> None:
    """Alter the table from `old` to `new` (same collection id) step by step."""
    if old.table != new.table:
        raise ValueError("a collection's table never changes")
    old_fields = {f.id: f for f in old.fields}
    new_ids = {f.id for f in new.fields}
    state = old.with_changes(stamp=())
    with connection.schema_editor() as editor:
        for index in old.indexes:
            if index not in new.indexes:
                obj = _index_object(build_model(state), old.id, index)
                state = state.with_changes(
                    indexes=tuple(i for i in state.indexes if i != index)
                )
                # The model *without* the index, as Django's RemoveConstraint passes it:
                # SQLite drops a unique constraint by rebuilding the table from it.
                model = build_model(state)
                if isinstance(obj, models.Index):
                    editor.remove_index(model, obj)
                else:
                    editor.remove_constraint(model, obj)
        for field in old.fields:
            if field.id not in new_ids:
                model = build_model(state)
                editor.remove_field(model, _model_field(model, field))
                state = state.with_changes(
                    fields=tuple(f for f in state.fields if f.id != field.id)
                )
        for field in new.fields:
            previous = old_fields.get(field.id)
            if previous is None:
                continue
            if _storage_signature(old, previous) != _storage_signature(new, field):
                state = _alter_field(editor, state, previous, field)
            else:
                state = _replace_field(state, field)
        for field in new.fields:
            if field.id not in old_fields:
                state = state.with_changes(fields=state.fields + (field,))
                model = build_model(state)
                editor.add_field(model, _model_field(model, field))
        for index in new.indexes:
            if index not in old.indexes:
                state = state.with_changes(indexes=state.indexes + (index,))
                model = build_model(state)
                obj = _index_object(model, new.id, index)
                if isinstance(obj, models.Index):
                    editor.add_index(model, obj)
                else:
                    editor.add_constraint(model, obj)
