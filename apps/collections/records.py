"""Record services: create, read, update, delete; each one transaction (DESIGN.md 4)."""

from __future__ import annotations

import base64
import binascii
import functools

import orjson
from django.contrib.auth.hashers import make_password
from django.db import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    models,
    transaction,
)
from django.utils import timezone

from apps.accounts.permissions import is_superuser
from apps.collections.access import check_action
from apps.collections.dynamic import cache
from apps.collections.field_types import get_type
from apps.collections.field_types.relation import valid_id
from apps.collections.models import Field
from apps.collections.records_io import (
    RecordInput,
    parse_record_input,
    render_record,
    row_attnames,
)
from apps.collections.services import get_spec
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.exceptions import Conflict, ErrorItem, Forbidden, InvalidInput, NotFound
from apps.core.ids import new_id

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _many_fields(spec: CollectionSpec) -> list[FieldSpec]:
    return [f for f in spec.fields if get_type(f.type).is_many(f)]


def _through(model, field: FieldSpec):
    m2m = model._meta.get_field(field.attname)
    through = m2m.remote_field.through
    return through, m2m.m2m_column_name(), m2m.m2m_reverse_name()


def _load_many(
    model, spec: CollectionSpec, ids: list[str]
) -> dict[str, dict[str, list[str]]]:
    """Multi-relation ids per record, one query per multi field, in insertion order."""
    result: dict[str, dict[str, list[str]]] = {pk: {} for pk in ids}
    for field in _many_fields(spec):
        through, src, dst = _through(model, field)
        rows = (
            through.objects.filter(**{f"{src}__in": ids})
            .order_by("pk")
            .values_list(src, dst)
        )
        for source, target in rows:
            result[source].setdefault(field.attname, []).append(target)
    return result


def _render_rows(model, spec: CollectionSpec, rows: list[dict]) -> list[dict]:
    many = (
        _load_many(model, spec, [r["id"] for r in rows]) if _many_fields(spec) else {}
    )
    return [render_record(spec, row, many.get(row["id"])) for row in rows]


def _check_targets(spec: CollectionSpec, data: RecordInput) -> None:
    """Every related id must exist in its target collection (400 naming the field)."""
    from apps.collections.dynamic.factory import table_for_collection

    errors = []
    for field in spec.fields:
        if field.type != "relation":
            continue
        field_type = get_type(field.type)
        source = data.many if field_type.is_many(field) else data.columns
        value = source.get(field_type.write_name(field))
        ids = [value] if isinstance(value, str) else list(value or [])
        if not ids:
            continue
        table = connection.ops.quote_name(
            table_for_collection(field.options["collection"])
        )
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id IN ({placeholders})", ids)
            found = {row[0] for row in cursor.fetchall()}
        missing = [i for i in ids if i not in found]
        if missing:
            errors.append(
                ErrorItem(
                    "relation_not_found",
                    f"No related record {missing[0]!r}.",
                    field.name,
                )
            )
    if errors:
        raise InvalidInput(errors=errors)


def _check_unique(
    model, spec: CollectionSpec, data: RecordInput, pk: str | None
) -> None:
    for field in spec.fields:
        name = get_type(field.type).write_name(field)
        value = data.columns.get(name)
        if field.unique and value is not None:
            qs = model.objects.filter(**{name: value})
            if pk:
                qs = qs.exclude(pk=pk)
            if qs.exists():
                raise Conflict(
                    "Another record already has this value.",
                    code="unique_violation",
                    param=field.name,
                )
    if spec.is_auth and "email" in data.columns:
        qs = model.objects.filter(email=data.columns["email"])
        if pk:
            qs = qs.exclude(pk=pk)
        if qs.exists():
            raise Conflict(
                "This email is already registered.",
                code="unique_violation",
                param="email",
            )


def _write_many(
    model, spec: CollectionSpec, pk: str, data: RecordInput, *, replace: bool
) -> None:
    for field in _many_fields(spec):
        if field.attname not in data.many:
            continue
        through, src, dst = _through(model, field)
        if replace:
            through.objects.filter(**{src: pk}).delete()
        through.objects.bulk_create(
            [through(**{src: pk, dst: target}) for target in data.many[field.attname]]
        )


def _fetch(model, spec: CollectionSpec, pk: str, *, lock: bool = False) -> dict:
    if not valid_id(
        pk
    ):  # e.g. NUL from the URL, which PostgreSQL refuses with an error
        raise NotFound("The record does not exist.", code="record_not_found")
    qs = model.objects.filter(pk=pk)
    if lock:
        qs = qs.select_for_update()
    row = qs.values(*row_attnames(spec)).first()
    if row is None:
        raise NotFound("The record does not exist.", code="record_not_found")
    return row


def retry_on_schema_race(service):
    """Run a record service again if its schema changed under it.

    Another process may commit a schema change between this request reading the collection
    definition and running its query (a dropped or retyped column); the second attempt
    reads the new definition. A second failure is a real error.
    """

    @functools.wraps(service)
    def wrapper(**kwargs):
        try:
            return service(**kwargs)
        except (ProgrammingError, OperationalError):
            if connection.in_atomic_block:
                raise
            return service(**kwargs)

    return wrapper


def _index_entry_too_large(
    spec: CollectionSpec, exc: OperationalError
) -> InvalidInput | None:
    """PostgreSQL refuses btree entries over ~2.7 kB (SQLSTATE 54000): a 400 naming the
    fields of the index, not a 500. Other databases have no such limit."""
    if getattr(exc.__cause__, "sqlstate", None) != "54000":
        return None
    message = str(exc)
    names = [f.name for f in spec.fields if f.column in message]
    for index in spec.indexes:
        if index.name_for(spec.id) in message:
            names += [f.name for f in map(spec.field_by_id, index.fields) if f]
    message = "The value is too large for a unique or indexed field."
    errors = [
        ErrorItem("too_large_for_index", message, name) for name in dict.fromkeys(names)
    ] or [ErrorItem("too_large_for_index", message)]
    return InvalidInput(errors=errors)


def _integrity_conflict() -> Conflict:
    return Conflict(
        "The record conflicts with another record (a unique value).",
        code="unique_violation",
    )


@retry_on_schema_race
def record_create(*, actor, collection: str, data) -> dict:
    spec = get_spec(collection)
    check_action(actor, spec, "create")
    parsed = parse_record_input(spec, data, partial=False)
    model = cache.model_for(spec)
    pk = parsed.record_id or new_id()
    now = timezone.now()
    columns = dict(parsed.columns)
    if spec.is_auth:
        columns["password"] = make_password(parsed.password)
    try:
        with transaction.atomic():
            _check_targets(spec, parsed)
            _check_unique(model, spec, parsed, None)
            if parsed.record_id and model.objects.filter(pk=pk).exists():
                raise Conflict(
                    "A record with this id already exists.", code="id_taken", param="id"
                )
            model.objects.create(id=pk, created=now, updated=now, **columns)
            _write_many(model, spec, pk, parsed, replace=False)
            row = _fetch(model, spec, pk)
    except IntegrityError:
        raise _integrity_conflict() from None
    except OperationalError as exc:
        too_large = _index_entry_too_large(spec, exc)
        if too_large is None:
            raise
        raise too_large from None
    return _render_rows(model, spec, [row])[0]


@retry_on_schema_race
def record_get(*, actor, collection: str, record_id: str) -> dict:
    spec = get_spec(collection)
    check_action(actor, spec, "view")
    model = cache.model_for(spec)
    return _render_rows(model, spec, [_fetch(model, spec, record_id)])[0]


@retry_on_schema_race
def record_update(*, actor, collection: str, record_id: str, data) -> dict:
    spec = get_spec(collection)
    check_action(actor, spec, "update")
    parsed = parse_record_input(spec, data, partial=True)
    model = cache.model_for(spec)
    columns = dict(parsed.columns)
    if spec.is_auth and parsed.password is not None:
        columns["password"] = make_password(parsed.password)
    try:
        with transaction.atomic():
            _fetch(model, spec, record_id, lock=True)
            if spec.is_auth:
                _refuse_superuser_accounts(actor, [record_id])
            _check_targets(spec, parsed)
            _check_unique(model, spec, parsed, record_id)
            model.objects.filter(pk=record_id).update(updated=timezone.now(), **columns)
            _write_many(model, spec, record_id, parsed, replace=True)
            row = _fetch(model, spec, record_id)
    except IntegrityError:
        raise _integrity_conflict() from None
    except OperationalError as exc:
        too_large = _index_entry_too_large(spec, exc)
        if too_large is None:
            raise
        raise too_large from None
    return _render_rows(model, spec, [row])[0]


def _referencing_fields(collection_id: str) -> list[tuple[CollectionSpec, FieldSpec]]:
    """Every relation field (in any collection) whose target is this collection."""
    from apps.collections.models import Collection

    found = []
    for row in Field.objects.filter(type="relation"):
        if row.options.get("collection") == collection_id:
            spec = cache.spec_for(Collection.objects.get(pk=row.collection_id))
            field = spec.field_by_id(row.id)
            if field is not None:
                found.append((spec, field))
    return found


def _refuse_superuser_accounts(actor, user_ids: list[str]) -> None:
    """Only a superuser may change or delete a superuser's account: a `records:write` key
    that could set a superuser's password or email would hold every scope."""
    from django.contrib.auth import get_user_model

    if is_superuser(actor):
        return
    if get_user_model().objects.filter(pk__in=user_ids, is_superuser=True).exists():
        raise Forbidden(
            "Only a superuser may change or delete a superuser's account.",
            code="forbidden",
        )


def _delete_cascade(
    spec: CollectionSpec, pks: list[str], seen: set[tuple[str, str]], actor=None
) -> None:
    """Delete records, first cascading to (or refusing for) records that reference them."""
    pks = [pk for pk in pks if (spec.id, pk) not in seen]
    if not pks:
        return
    seen.update((spec.id, pk) for pk in pks)
    for source_spec, field in _referencing_fields(spec.id):
        source = cache.model_for(source_spec)
        if get_type(field.type).is_many(field):
            through, src, dst = _through(source, field)
            referencing = list(
                through.objects.filter(**{f"{dst}__in": pks})
                .values_list(src, flat=True)
                .distinct()
            )
        else:
            referencing = list(
                source.objects.filter(**{f"{field.attname}__in": pks}).values_list(
                    "pk", flat=True
                )
            )
        referencing = [r for r in referencing if (source_spec.id, r) not in seen]
        if not referencing:
            continue
        if not field.options.get("cascade_delete"):
            raise Conflict(
                f"The record is referenced by {source_spec.name}.{field.name} "
                f"(record {referencing[0]}); delete or change that first.",
                code="relation_restrict",
            )
        _delete_cascade(source_spec, referencing, seen, actor)
    model = cache.model_for(spec)
    for field in _many_fields(spec):
        through, src, _ = _through(model, field)
        through.objects.filter(**{f"{src}__in": pks}).delete()
    if spec.is_auth:
        from django.contrib.auth import get_user_model

        _refuse_superuser_accounts(actor, pks)
        get_user_model().objects.filter(pk__in=pks).delete()
    else:
        model.objects.filter(pk__in=pks)._raw_delete(model.objects.db)


@retry_on_schema_race
def record_delete(*, actor, collection: str, record_id: str) -> None:
    spec = get_spec(collection)
    check_action(actor, spec, "delete")
    model = cache.model_for(spec)
    with transaction.atomic():
        _fetch(model, spec, record_id, lock=True)
        _delete_cascade(spec, [record_id], set(), actor)


# --- list -----------------------------------------------------------------------------


def _param_int(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{name} must be an integer.", code="invalid", param=name
        ) from None
    if not low <= value <= high:
        raise InvalidInput(
            f"{name} must be between {low} and {high}.", code="out_of_range", param=name
        )
    return value


def encode_cursor(created, pk: str) -> str:
    raw = orjson.dumps([created.isoformat(), pk])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str):
    import datetime as dt

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, pk = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        created = dt.datetime.fromisoformat(created)
        # Cursors are opaque: anything encode_cursor cannot have made is refused, so a
        # forged one never reaches the database (naive or out-of-range times, odd ids).
        if created.tzinfo is None or not valid_id(pk):
            raise ValueError("not a cursor")
        return created.astimezone(dt.timezone.utc), pk
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        orjson.JSONDecodeError,
    ):
        raise InvalidInput(
            "The cursor is not valid.", code="invalid_cursor", param="cursor"
        ) from None


@retry_on_schema_race
def record_list(*, actor, collection: str, params) -> dict:
    """Newest first, keyset-paginated on (created, id); offset pages with `page`."""
    spec = get_spec(collection)
    check_action(actor, spec, "list")
    model = cache.model_for(spec)
    limit = _param_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    qs = model.objects.order_by("-created", "-id")
    cursor = params.get("cursor")
    page = params.get("page")
    if cursor and page:
        raise InvalidInput(
            "Use either cursor or page, not both.", code="invalid", param="page"
        )
    if cursor:
        created, pk = decode_cursor(cursor)
        qs = qs.filter(
            models.Q(created__lt=created) | models.Q(created=created, id__lt=pk)
        )
    elif page:
        page_number = _param_int(params, "page", 1, 1, 1_000_000)
        qs = qs[(page_number - 1) * limit :]
    rows = list(qs.values(*row_attnames(spec))[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    body: dict = {
        "items": _render_rows(model, spec, rows),
        "next_cursor": encode_cursor(rows[-1]["created"], rows[-1]["id"])
        if more and rows
        else None,
    }
    if params.get("count") in ("1", "true"):
        body["total"] = model.objects.count()
    return body
