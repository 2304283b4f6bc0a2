"""The change log (DESIGN.md decision 5): every committed write gets a change token.

Each create or update appends a `create` or `update` row and each delete a `delete` row
(a tombstone holding the row as it was) to `baas_changes`, in the writing transaction, so
a change exists exactly when its write committed.

Order and tokens. A position is (`txid`, `seq`). On SQLite writers are serialised
(IMMEDIATE transactions), so `seq` order is commit order and `txid` is 0. On PostgreSQL it
is not: one transaction can take seq 5, another seq 6 and commit first, and a reader that
returned 6 and moved past it would never see 5. So readers stop at a horizon: the `xmin`
of a snapshot taken before the read, below which every transaction has ended (committed
or rolled back) and no new one can start. Rows of transactions below the horizon are
final; ordered by (`txid`, `seq`) they form a prefix that never grows in the middle. A
page that reaches the horizon resumes at (horizon, 0). A token is that position, opaque.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.collections.field_types import get_type
from apps.collections.models import Change, Collection, PrunedChanges
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import Gone, InvalidInput
from apps.records import fast_read
from apps.records.records_io import row_attnames
from apps.rules.values import is_empty

Position = tuple[int, int]
START: Position = (0, 0)
TOKEN_VERSION = "1"
MAX_TOKEN_LENGTH = 64
MAX_INT = 2**63 - 1
CHUNK = 500  # ids per IN (...) list
PRUNE_BATCH = 5000
_TOKEN_BODY = re.compile(r"1\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})")
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]{1,64}")


# --- tokens -----------------------------------------------------------------------------


def encode_token(position: Position) -> str:
    raw = f"{TOKEN_VERSION}.{position[0]}.{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_token() -> InvalidInput:
    return InvalidInput(
        "The change token is not valid.", code="invalid_token", param="since"
    )


def decode_token(token: str) -> Position:
    """The position a token names; 400 for anything `encode_token` cannot have made."""
    if not isinstance(token, str) or not _TOKEN_TEXT.fullmatch(token):
        raise _invalid_token()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise _invalid_token() from None
    match = _TOKEN_BODY.fullmatch(raw)
    if match is None:
        raise _invalid_token()
    position = (int(match[1]), int(match[2]))
    if max(position) > MAX_INT or encode_token(position) != token:
        raise _invalid_token()
    return position


def resync_required() -> Gone:
    return Gone(
        "Changes since this token are no longer kept; sync again from the start.",
        code="resync_required",
        param="since",
    )


# --- writing ----------------------------------------------------------------------------


def _txid():
    """The writing transaction's id, evaluated by the INSERT itself (no extra query)."""
    if connection.vendor == "postgresql":
        return RawSQL("pg_current_xact_id()::text::bigint", ())
    return 0


#: called (in the writing transaction) after changes are logged: realtime's wake-up
on_logged: list = []


def _logged() -> None:
    for callback in on_logged:
        callback()


_INSERT = (
    "INSERT INTO baas_changes (collection_id, record_id, op, txid, created_at) "
    "VALUES (%s, %s, %s, {txid}, %s)"
)


def log_change(spec: CollectionSpec, record_id: str, op: str) -> None:
    """Record a create or update of `record_id` in the current transaction (one raw
    INSERT: it is on every write's path)."""
    postgres = connection.vendor == "postgresql"
    txid = "pg_current_xact_id()::text::bigint" if postgres else "0"
    now = timezone.now()
    created = now if postgres else connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT.format(txid=txid), [spec.id, record_id, op, created])
    _logged()


def log_deletes(spec: CollectionSpec, model, pks: list[str]) -> None:
    """Record deletes (tombstones with a snapshot) before the rows are deleted."""
    snapshots = _snapshots(spec, model, pks)
    now = timezone.now()
    Change.objects.bulk_create(
        [
            Change(
                collection_id=spec.id,
                record_id=pk,
                op=Change.DELETE,
                txid=_txid(),
                snapshot=snapshots[pk],
                created_at=now,
            )
            for pk in pks
            if pk in snapshots
        ],
        batch_size=CHUNK,
    )
    _logged()


def _chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _snapshots(spec: CollectionSpec, model, pks: list[str]) -> dict[str, dict]:
    """The stored rows as JSON values; enough to test the view rule on later."""
    rows = load_rows(spec, model, pks)
    json_fields = {f.attname for f in spec.fields if f.type == "json"}
    for row in rows.values():
        for name, value in row.items():
            if isinstance(value, dt.datetime):
                row[name] = value.isoformat()
            elif name in json_fields and not is_empty(value):
                row[name] = True  # rules compare JSON with null only: keep it small
    return rows


def load_rows(spec: CollectionSpec, model, pks: list[str]) -> dict[str, dict]:
    """The stored rows by id (attname -> value, multiple relations as id lists): one
    query for the columns, one per multiple relation."""
    rows: dict[str, dict] = {}
    for chunk in _chunks(list(pks)):
        # a few plans per model, not one per chunk size
        size = 1 << (len(chunk) - 1).bit_length()
        plan = rows_plan(spec, model, size)
        for row in fast_read.run(plan, (*chunk, *chunk[-1:] * (size - len(chunk)))):
            rows[row["id"]] = row
    for field in spec.fields:
        if not get_type(field.type).is_many(field):
            continue
        m2m = model._meta.get_field(field.attname)
        through = m2m.remote_field.through
        src, dst = m2m.m2m_column_name(), m2m.m2m_reverse_name()
        for row in rows.values():
            row[field.attname] = []
        for chunk in _chunks(list(rows)):
            pairs = (
                through.objects.filter(**{f"{src}__in": chunk})
                .order_by("pk")
                .values_list(src, dst)
            )
            for source, target in pairs:
                rows[source][field.attname].append(target)
    return rows


def rows_plan(spec: CollectionSpec, model, size: int) -> fast_read.Plan:
    """load_rows' query for `size` ids, compiled once per model."""
    key = ("rows", model, connection.vendor, size)
    plan = fast_read.cached(key)
    if plan is None:
        query = model.objects.filter(pk__in=range(size)).values(*row_attnames(spec))
        plan = fast_read.compile_plan(query, datetimes=True)
        fast_read.store(key, plan)
    return plan


def snapshot_row(spec: CollectionSpec, snapshot: dict | None) -> dict:
    """A tombstone's snapshot as a stored row again (datetimes parsed back)."""
    row = dict(snapshot or {})
    dates = {"created", "updated"} | {
        f.attname for f in spec.fields if f.type == "date"
    }
    for name in dates:
        value = row.get(name)
        if isinstance(value, str):
            try:
                row[name] = dt.datetime.fromisoformat(value)
            except ValueError:
                row[name] = None
    return row


# --- reading ----------------------------------------------------------------------------


@dataclass
class Page:
    """Change rows after a position, in order, and where the next read starts."""

    rows: list[Change]
    next: Position
    has_more: bool


def _snapshot_bounds() -> tuple[int, int] | None:
    """PostgreSQL: (xmin, xmax) of a snapshot taken now; None where seq order is
    commit order (SQLite)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint "
            "FROM pg_current_snapshot() AS s"
        )
        xmin, xmax = cursor.fetchone()
    return xmin, xmax


def _after(position: Position) -> Q:
    txid, seq = position
    return Q(txid__gt=txid) | Q(txid=txid, seq__gt=seq)


def _last_assigned_seq() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'baas_changes'")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def read(collection_id: str, since: Position | None, limit: int) -> Page:
    """Up to `limit` change rows of a collection after `since`, below the horizon.

    410 when `since` is before tombstones that were pruned, or names a position this
    database has not reached (a token from another database, or a restored backup).
    """
    bounds = _snapshot_bounds()  # before the read: see the module docstring
    start = since or START
    rows = Change.objects.filter(collection_id=collection_id).filter(_after(start))
    if bounds is not None:
        rows = rows.filter(txid__lt=bounds[0])
    rows = list(rows.order_by("txid", "seq")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if since is not None:
        _check_still_valid(collection_id, since, bool(rows), bounds)
    if has_more:
        last = rows[-1]
        return Page(rows, (last.txid, last.seq), True)
    if bounds is not None:
        return Page(rows, max(start, (bounds[0], 0)), False)
    last_position = (rows[-1].txid, rows[-1].seq) if rows else start
    return Page(rows, last_position, False)


def head() -> Position:
    """Where a reader of every collection's changes starts to see only new ones."""
    bounds = _snapshot_bounds()
    if bounds is not None:
        return (bounds[0], 0)
    return (0, _last_assigned_seq())


def read_all(after: Position, limit: int) -> tuple[list[tuple], Position]:
    """Up to `limit` change rows of every collection after a position, below the
    horizon, as (txid, seq, collection id, record id, op) in order; and the position
    the next read starts from (realtime's tail of the log: once per written batch, so
    plain SQL, not a queryset compiled every time)."""
    bounds = _snapshot_bounds()  # before the read: see the module docstring
    sql = _READ_ALL
    params = [after[0], after[0], after[1]]
    if bounds is not None:
        sql = _READ_ALL_BELOW
        params.append(bounds[0])
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [tuple(row) for row in cursor.fetchall()]
    if len(found) == limit:
        return found, (found[-1][0], found[-1][1])
    if bounds is not None:
        return found, max(after, (bounds[0], 0))
    return found, ((found[-1][0], found[-1][1]) if found else after)


_READ_ALL_WHERE = (
    "SELECT txid, seq, collection_id, record_id, op FROM baas_changes"
    " WHERE (txid > %s OR (txid = %s AND seq > %s))"
)
_READ_ALL = _READ_ALL_WHERE + " ORDER BY txid, seq LIMIT %s"
_READ_ALL_BELOW = _READ_ALL_WHERE + " AND txid < %s ORDER BY txid, seq LIMIT %s"


def tombstones(seqs: list[int]) -> dict[int, dict | None]:
    """The snapshots of delete rows, by `seq`."""
    found: dict[int, dict | None] = {}
    for chunk in _chunks(seqs):
        found.update(
            Change.objects.filter(seq__in=chunk).values_list("seq", "snapshot")
        )
    return found


def _check_still_valid(
    collection_id: str,
    since: Position,
    found_rows: bool,
    bounds: tuple[int, int] | None,
) -> None:
    # After reading the rows: pruning raises the mark and deletes in one transaction,
    # so a read that missed pruned rows sees the raised mark here.
    pruned = (
        PrunedChanges.objects.filter(collection_id=collection_id)
        .values_list("txid", "seq")
        .first()
    )
    if pruned is not None and since < tuple(pruned):
        raise resync_required()
    if found_rows:
        return
    if bounds is not None:
        ahead = since[0] > bounds[1]
    else:
        ahead = since[0] != 0 or since[1] > _last_assigned_seq()
    if ahead:
        raise resync_required()


# --- pruning ----------------------------------------------------------------------------


def _delete_in_batches(queryset) -> int:
    total = 0
    while True:
        batch = list(queryset.values_list("seq", flat=True)[:PRUNE_BATCH])
        if not batch:
            return total
        total += Change.objects.filter(seq__in=batch).delete()[0]


def _superseded_upserts(collection_id: str):
    """Upserts with a later row for the same record: the reader renders the record's
    current state for the later row, so nothing is lost without them."""
    later = Change.objects.filter(
        collection_id=OuterRef("collection_id"), record_id=OuterRef("record_id")
    ).filter(
        Q(txid__gt=OuterRef("txid")) | Q(txid=OuterRef("txid"), seq__gt=OuterRef("seq"))
    )
    return (
        Change.objects.filter(collection_id=collection_id)
        .exclude(op=Change.DELETE)
        .filter(Exists(later))
    )


def _prune_tombstones(collection_id: str, cutoff) -> int:
    """Delete tombstones older than the cutoff, raising the collection's pruned mark in
    the same transaction."""
    old = Change.objects.filter(
        collection_id=collection_id, op=Change.DELETE, created_at__lt=cutoff
    ).order_by("txid", "seq")
    total = 0
    while True:
        batch = list(old.values_list("txid", "seq")[:PRUNE_BATCH])
        if not batch:
            return total
        with transaction.atomic():
            mark = (
                PrunedChanges.objects.select_for_update()
                .filter(collection_id=collection_id)
                .first()
            )
            newest = max(batch)
            if mark is None:
                PrunedChanges.objects.create(
                    collection_id=collection_id, txid=newest[0], seq=newest[1]
                )
            elif (mark.txid, mark.seq) < newest:
                mark.txid, mark.seq = newest
                mark.save(update_fields=["txid", "seq"])
            total += Change.objects.filter(seq__in=[s for _, s in batch]).delete()[0]


def prune(*, now=None) -> int:
    """Delete what no reader needs: rows of dropped collections, superseded upserts,
    and tombstones older than BAAS_CHANGES_RETENTION_DAYS. The latest row of a live
    record is kept however old, so a sync from the start still finds every record."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BAAS_CHANGES_RETENTION_DAYS)
    live = Collection.objects.values("id")
    total = _delete_in_batches(Change.objects.exclude(collection_id__in=live))
    PrunedChanges.objects.exclude(collection_id__in=live).delete()
    for collection_id in Collection.objects.values_list("id", flat=True):
        total += _delete_in_batches(_superseded_upserts(collection_id))
        total += _prune_tombstones(collection_id, cutoff)
    return total
