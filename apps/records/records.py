"""Record services: create, read, update, delete; each one transaction (DESIGN.md 4)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re

import orjson
from django.contrib.auth.hashers import make_password
from django.db import (
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.http import QueryDict

from apps.accounts.credentials import OPERATOR_ONLY_FIELDS, operator_wrote_credentials
from apps.accounts.permissions import is_superuser
from apps.collections.access import Access
from apps.collections.dynamic import cache
from apps.collections.field_types import get_type
from apps.collections.field_types.relation import valid_id
from apps.collections.models import Change, Field
from apps.collections.services import get_spec
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.exceptions import (
    Conflict,
    ErrorItem,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from apps.core.ids import new_id
from apps.hooks import audit
from apps.hooks import dispatch as hooks
from apps.records import changelog, fast_read
from apps.records.multipart import record_payload
from apps.records.record_view import RecordView
from apps.records.records_io import RecordInput, parse_record_input, row_attnames


def _many_fields(spec: CollectionSpec) -> list[FieldSpec]:
    return [f for f in spec.fields if get_type(f.type).is_many(f)]


def _through(model, field: FieldSpec):
    m2m = model._meta.get_field(field.attname)
    through = m2m.remote_field.through
    return through, m2m.m2m_column_name(), m2m.m2m_reverse_name()


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


def _payload(spec: CollectionSpec, data) -> tuple:
    """(the payload, the body as rules see it): a multipart body as the JSON object it
    stands for, where an uploaded file is its name to `@request.body.<field>`."""
    if not isinstance(data, QueryDict):
        return data, data
    payload = record_payload(spec, data)
    body = {}
    for key, value in payload.items():
        if isinstance(value, list):
            value = [str(v.name) if hasattr(v, "read") else v for v in value]
        body[key] = value
    return payload, body


def _stage(spec: CollectionSpec, data: RecordInput, pk: str) -> list:
    """Prepare the staged fields' writes (files stored, pending) before the transaction."""
    staged: list = []
    try:
        for field, raw in data.staged:
            write = get_type(field.type).stage_write(
                field, raw, collection_id=spec.id, record_id=pk
            )
            staged.append((field, write))
    except BaseException:
        _discard(staged)
        raise
    return staged


def _apply_staged(staged: list, columns: dict, current: dict | None) -> None:
    """Inside the transaction: the staged fields' values, given the stored row."""
    for field, write in staged:
        old = None if current is None else current.get(field.attname)
        columns[field.attname] = write.apply(old)


def _discard(staged: list) -> None:
    for _, write in staged:
        write.discard()


class _StagedWrites:
    """The staged fields' writes (files stored, pending) for a block: discarded unless
    the block (its transaction) ends without an exception."""

    __slots__ = ("staged",)

    def __init__(self, spec: CollectionSpec, data: RecordInput, pk: str) -> None:
        self.staged = _stage(spec, data, pk) if data.staged else []

    def __enter__(self) -> list:
        return self.staged

    def __exit__(self, kind, exc, traceback) -> bool:
        if kind is not None:
            _discard(self.staged)
        return False


def _not_found() -> NotFound:
    return NotFound("The record does not exist.", code="record_not_found")


def stored_row(model, spec: CollectionSpec, pk: str, *, lock: bool = False) -> dict:
    """The stored row (attname -> value), multi relations included; 404 when absent."""
    if not valid_id(pk):  # e.g. NUL from the URL, which PostgreSQL refuses
        raise _not_found()
    qs = model.objects.filter(pk=pk)
    if lock:
        qs = qs.select_for_update()
    row = qs.values(*row_attnames(spec)).first()
    if row is None:
        raise _not_found()
    for field in _many_fields(spec):
        through, src, dst = _through(model, field)
        row[field.attname] = list(
            through.objects.filter(**{src: pk})
            .order_by("pk")
            .values_list(dst, flat=True)
        )
    return row


def _holds(model, pk: str, condition) -> bool:
    """Whether the row `pk` meets a compiled condition (True/False/Q)."""
    if isinstance(condition, bool):
        return condition
    return model.objects.filter(pk=pk).filter(condition).exists()


def _render_one(view: RecordView, pk: str) -> dict:
    """A record as `view` shows it, whatever the view rule (the caller just wrote it)."""
    access = view.access
    key = _get_plan_key(access, {}, kind="one")
    plan = fast_read.cached(key)
    if plan is None:
        plan = fast_read.compile_plan(
            view.values(access.model().objects.filter(pk=PK_SLOT))
        )
        if (
            key is not None
            and not access.used_related
            and plan.params.count(PK_SLOT) == 1
        ):
            fast_read.store(key, plan)
    return view.render(fast_read.run(plan, _with_pk(plan, pk)))[0]


def _with_pk(plan, pk: str) -> tuple:
    return tuple(pk if p == PK_SLOT else p for p in plan.params)


def etag_for(record: dict) -> str:
    """A strong validator of a record as one caller sees it."""
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return f'"{digest.hexdigest()[:32]}"'


def _check_if_match(view: RecordView, pk: str, if_match: str | None) -> None:
    if if_match is None:
        return
    # Our tags are strong; only gzip on the way out marks them weak (W/), so that form
    # is the same tag.
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" in tags:
        return
    if etag_for(_render_one(view, pk)) not in tags:
        raise PreconditionFailed(
            "The record changed since you read it.", code="precondition_failed"
        )


def _refuse_unwritable(access: Access, data) -> list:
    """403 for fields the caller may never write; the field write rules that depend on
    the record, to check against it."""
    pending = []
    if not isinstance(data, dict):
        return pending
    if access.spec.is_auth and not access.privileged:
        for name in OPERATOR_ONLY_FIELDS:
            if name in data:
                raise Forbidden(
                    f"{name!r} is changed through /api/v1/account/..., which checks "
                    "the current password or verifies the new address.",
                    code="field_forbidden",
                    param=name,
                )
    for field in access.spec.fields:
        if field.name not in data:
            continue
        writable = access.field_writable(field)
        if writable is False:
            raise Forbidden(
                f"You may not set {field.name!r}.",
                code="field_forbidden",
                param=field.name,
            )
        if writable is not True:
            pending.append((field, writable))
    return pending


def _require_field_writes(model, pk: str, pending: list) -> None:
    for field, condition in pending:
        if not _holds(model, pk, condition):
            raise Forbidden(
                f"You may not set {field.name!r} on this record.",
                code="field_forbidden",
                param=field.name,
            )


def retry_on_schema_race(service):
    """Run a record service again if its schema changed under it.

    Another process may commit a schema change between this request reading the collection
    definition and running its query (a dropped or retyped column); the second attempt
    reads the new definition. A second failure is a real error. A read that deferred its
    stamp check (dynamic/cache.py) is checked here whatever its outcome, so no answer or
    refusal comes from a spec that was no longer current; the second attempt never defers.
    """

    @functools.wraps(service)
    def wrapper(**kwargs):
        try:
            return _checked_run(service, kwargs)
        except cache.StaleSpec:
            pass
        except (ProgrammingError, OperationalError):
            if connection.in_atomic_block:
                raise
        with cache.no_deferring():
            return service(**kwargs)

    return wrapper


def _checked_run(service, kwargs):
    """One run of a record service; cache.StaleSpec if it deferred its stamp check and
    the stamp had moved, whether the service answered or refused."""
    cache.take_pending_check()  # nothing owed from before this run
    try:
        result = service(**kwargs)
    except cache.StaleSpec:
        raise
    except (ProgrammingError, OperationalError):
        cache.drop_pending()
        raise
    except Exception:
        if cache.settle_pending():
            raise cache.StaleSpec from None
        raise
    if cache.settle_pending():
        raise cache.StaleSpec
    return result


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


@contextlib.contextmanager
def _write_errors(spec: CollectionSpec):
    """Database refusals of a write as 409/400; anything else propagates."""
    try:
        yield
    except IntegrityError:
        raise _integrity_conflict() from None
    except OperationalError as exc:
        too_large = _index_entry_too_large(spec, exc)
        if too_large is None:
            raise
        raise too_large from None


@retry_on_schema_race
def record_create(*, actor, collection: str, data) -> dict:
    spec = get_spec(collection)
    data, body = _payload(spec, data)
    access = Access(actor, spec, body=body, method="POST")
    access.require("create")
    before = hooks.wanted("before", "create", spec)
    if not (before or hooks.wanted("after", "create", spec)):
        return _create(access, data, sent=data)
    if access.rule("create") is False:  # before a hook runs for a refused caller
        raise Forbidden("The create rule does not allow this record.", code="forbidden")
    with transaction.atomic():
        written = hooks.run_before("create", spec, actor, data) if before else data
        record = _create(access, written, sent=data)
        _queue_after(access, "create", record["id"], old=None)
        return record


def _queue_after(access: Access, action: str, record_id: str, *, old) -> None:
    spec = access.spec
    if hooks.wanted("after", action, spec):
        data = hooks.records_as_system(spec, [record_id]).get(record_id)
        hooks.queue_after(
            action, spec, access.actor, record_id=record_id, data=data, old=old
        )


def _create(access: Access, data, *, sent) -> dict:
    """record_create's write; `sent`: what the client sent (its field rights are
    checked on that: a before hook may write any field)."""
    spec = access.spec
    parsed = parse_record_input(spec, data, partial=False)
    pending = _refuse_unwritable(access, sent)
    allowed = access.rule("create")
    if allowed is False:
        raise Forbidden("The create rule does not allow this record.", code="forbidden")
    model = cache.model_for(spec)
    pk = parsed.record_id or new_id()
    now = access.ctx.now  # the request's `@now`, at the precision the API shows
    columns = dict(parsed.columns)
    if spec.is_auth:
        columns["password"] = make_password(parsed.password)
    with (
        _StagedWrites(spec, parsed, pk) as staged,
        _write_errors(spec),
        transaction.atomic(),
    ):
        _check_targets(spec, parsed)
        _check_unique(model, spec, parsed, None)
        if parsed.record_id and model.objects.filter(pk=pk).exists():
            raise Conflict(
                "A record with this id already exists.", code="id_taken", param="id"
            )
        _apply_staged(staged, columns, None)
        fast_read.insert_row(
            model, {"id": pk, "created": now, "updated": now, **columns}
        )
        _write_many(model, spec, pk, parsed, replace=False)
        if not _holds(model, pk, allowed):
            raise Forbidden(
                "The create rule does not allow this record.", code="forbidden"
            )
        _require_field_writes(model, pk, pending)
        if spec.is_auth:
            operator_wrote_credentials(
                pk, email=columns.get("email"), password_changed=False
            )
        changelog.log_change(spec, pk, Change.CREATE)
        return _render_one(RecordView(access), pk)


@retry_on_schema_race
def record_get(*, actor, collection: str, record_id: str, params=None) -> dict:
    """One record; `params` may hold `fields` and `expand` (as for lists)."""
    from apps.records.expand import expand_records, parse_expand
    from apps.records.records_list import parse_fields  # it imports this module

    spec = get_spec(collection, deferred=True)
    access = Access(actor, spec)
    access.require("view")
    params = params or {}
    names, nested_fields = parse_fields(params.get("fields"))
    expand = parse_expand(params.get("expand"), access, nested_fields, fields=names)
    view = RecordView(access, names | set(expand.names) if names else None)
    if not valid_id(record_id):
        raise _not_found()
    key = _get_plan_key(access, params)
    plan = fast_read.cached(key)
    if plan is None:
        visible = access.rule("view")
        if visible is False:
            raise _not_found()
        queryset = access.model().objects.filter(pk=PK_SLOT)
        if visible is not True:
            queryset = queryset.filter(visible)
        plan = fast_read.compile_plan(view.values(queryset))
        if (
            key is not None
            and not access.used_related
            and plan.params.count(PK_SLOT) == 1
        ):
            fast_read.store(key, plan)
    rows = fast_read.run(plan, _with_pk(plan, record_id))
    if not rows:
        raise _not_found()
    items = view.render(rows)
    if expand.names:
        expand_records(expand, rows, items)
    return items[0]


PK_SLOT = "~record-id~"  # stands for the id in a cached plan; never a valid id
_VOLATILE = re.compile(r"@now|@request\.(body|method)|@request\.auth\.(?!id\b)")


def _get_plan_key(access: Access, params, kind: str = "get") -> tuple | None:
    spec = access.spec
    texts = [spec.rules.get("view") or ""]
    texts += [(f.rules or {}).get("read") or "" for f in spec.fields]
    if any(_VOLATILE.search(text) for text in texts):
        return None
    user = access.user.pk if access.user is not None else None
    return (
        kind,
        spec.id,
        spec.stamp,
        access.privileged,
        user,
        params.get("fields"),
        params.get("expand"),
    )


def _lock_for(access: Access, action: str, record_id: str) -> dict:
    """Lock and return the stored row if `action`'s rule allows it on that row: 404 if
    the caller cannot see the record at all, 403 if they can but may not act."""
    model = access.model()
    row = stored_row(model, access.spec, record_id, lock=True)
    if _holds(model, record_id, access.rule(action)):
        return row
    if _holds(model, record_id, access.rule("view")):
        raise Forbidden(
            f"The {action} rule does not allow this for the record.", code="forbidden"
        )
    raise _not_found()


@retry_on_schema_race
def record_update(
    *, actor, collection: str, record_id: str, data, if_match: str | None = None
) -> dict:
    spec = get_spec(collection)
    data, body = _payload(spec, data)
    access = Access(actor, spec, body=body, method="PATCH")
    access.require("update")
    before = hooks.wanted("before", "update", spec)
    if not (before or hooks.wanted("after", "update", spec)):
        return _update(access, record_id, data, sent=data, if_match=if_match)
    with transaction.atomic():
        _lock_for(access, "update", record_id)
        old = hooks.records_as_system(spec, [record_id]).get(record_id)
        written = data
        if before:
            written = hooks.run_before(
                "update", spec, actor, data, record_id=record_id, old=old
            )
        record = _update(access, record_id, written, sent=data, if_match=if_match)
        _queue_after(access, "update", record_id, old=old)
        return record


def _update(
    access: Access, record_id: str, data, *, sent, if_match: str | None
) -> dict:
    """record_update's write (`sent` as for _create)."""
    spec, actor = access.spec, access.actor
    parsed = parse_record_input(spec, data, partial=True)
    pending = _refuse_unwritable(access, sent)
    model = cache.model_for(spec)
    columns = dict(parsed.columns)
    if spec.is_auth and parsed.password is not None:
        columns["password"] = make_password(parsed.password)
    view = RecordView(access)
    with (
        _StagedWrites(spec, parsed, record_id) as staged,
        _write_errors(spec),
        transaction.atomic(),
    ):
        current = _lock_for(access, "update", record_id)
        _check_if_match(view, record_id, if_match)
        _apply_staged(staged, columns, current)
        _require_field_writes(model, record_id, pending)
        if spec.is_auth:
            _refuse_superuser_accounts(actor, [record_id])
        _check_targets(spec, parsed)
        _check_unique(model, spec, parsed, record_id)
        model.objects.filter(pk=record_id).update(updated=access.ctx.now, **columns)
        if spec.is_auth:
            operator_wrote_credentials(
                record_id,
                email=columns.get("email"),
                password_changed="password" in columns,
            )
        _write_many(model, spec, record_id, parsed, replace=True)
        if not _holds(model, record_id, access.rule("update")):
            raise Forbidden(
                "The update rule does not allow the record as changed.",
                code="forbidden",
            )
        changelog.log_change(spec, record_id, Change.UPDATE)
        return _render_one(view, record_id)


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
    after = hooks.wanted("after", "delete", spec)
    gone = hooks.records_as_system(spec, pks) if after else {}
    changelog.log_deletes(spec, model, pks)
    for pk, record in gone.items():
        hooks.queue_after("delete", spec, actor, record_id=pk, data=None, old=record)
    for field in spec.fields:
        field_type = get_type(field.type)
        if field_type.staged:
            field_type.records_deleted(field, collection_id=spec.id, record_ids=pks)
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
def record_delete(
    *, actor, collection: str, record_id: str, if_match: str | None = None
) -> None:
    spec = get_spec(collection)
    access = Access(actor, spec, method="DELETE")
    access.require("delete")
    with transaction.atomic(), audit.acting(actor):  # an account's deletion is audited
        _lock_for(access, "delete", record_id)
        _check_if_match(RecordView(access), record_id, if_match)
        if hooks.wanted("before", "delete", spec):
            hooks.run_before("delete", spec, actor, None, record_id=record_id)
        _delete_cascade(spec, [record_id], set(), actor)


@retry_on_schema_race
def record_check_update(
    *, actor, collection: str, record_id: str, data: dict
) -> CollectionSpec:
    """Whether `actor` may update the record with `data` as it stands now (without
    writing): the checks of record_update before its write, for work that must be
    allowed before it starts (a direct upload). The update itself checks again."""
    spec = get_spec(collection)
    access = Access(actor, spec, body=data, method="PATCH")
    access.require("update")
    pending = _refuse_unwritable(access, data)
    with transaction.atomic():
        _lock_for(access, "update", record_id)
        _require_field_writes(access.model(), record_id, pending)
    return spec
