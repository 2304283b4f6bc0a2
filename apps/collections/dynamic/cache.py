"""Per-process caches of specs and models, keyed by (collection id, schema version).

Every request reads the collection row (one indexed query) and so sees the current
version: a schema change committed by any process is picked up on the next request.

Record reads on PostgreSQL defer that read (`current_spec(..., deferred=True)`): they go
on with the spec last seen under the name, and their first query carries the stamp query
in the same round trip (`fast_read.run`). `records.retry_on_schema_race` makes sure every
outcome of such a read, an answer or a refusal, was checked against the stamp, and runs
the read again on the current spec if the stamp moved.
"""

from __future__ import annotations

import contextlib
import threading

from django.db import connection, models

from apps.collections.dynamic.factory import build_model
from apps.collections.models import Collection, Field
from apps.collections.spec import CollectionSpec

_specs: dict[str, CollectionSpec] = {}
_models: dict[str, tuple[tuple, type[models.Model]]] = {}
_lock = threading.Lock()
#: collection id -> (the stamp as the raw query below returns it, the spec of that stamp)
_raw_stamps: dict[str, tuple] = {}

_STAMP_SQL = "SELECT id, schema_version, updated FROM baas_collections WHERE {} = %s"
#: (column, value) -> the stamp row last read for it and the spec of that row
_seen: dict[tuple[str, str], tuple[tuple, CollectionSpec]] = {}
#: per thread: the deferred stamp check of the read in progress, if not yet made
_pending = threading.local()


def current_spec(
    column: str, value: str, *, deferred: bool = False
) -> CollectionSpec | None:
    """The spec of the collection whose `column` ("name_key" or "id") is `value`.

    The hot path of every record request: one indexed raw query for the version stamp
    (no ORM), and the cached spec if it is still current. `deferred`: see the module
    docstring.
    """
    if deferred and _can_defer():
        seen = _seen.get((column, value))
        if seen is not None:
            _pending.check = (column, value, seen[0])
            return seen[1]
    with connection.cursor() as cursor:
        cursor.execute(_STAMP_SQL.format(column), [value])
        row = cursor.fetchone()
    return _spec_of_stamp(column, value, row)


def _spec_of_stamp(column: str, value: str, row) -> CollectionSpec | None:
    if row is None:
        _seen.pop((column, value), None)
        return None
    collection_id, version, updated = row
    raw = (version, str(updated))
    cached = _raw_stamps.get(collection_id)
    if cached is not None and cached[0] == raw:
        _seen[(column, value)] = (tuple(row), cached[1])
        return cached[1]
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:
        return None
    spec = spec_for(collection)
    if spec.version == version:
        _raw_stamps[collection_id] = (raw, spec)
        _seen[(column, value)] = (tuple(row), spec)
    return spec


def _can_defer() -> bool:
    """Only where one round trip can carry two statements (PostgreSQL, psycopg's
    client-side binding), outside transactions (a failed statement would end one), and
    not in a run that retries after a stale spec."""
    return (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and not getattr(_pending, "off", False)
    )


@contextlib.contextmanager
def no_deferring():
    before = getattr(_pending, "off", False)
    _pending.off = True
    try:
        yield
    finally:
        _pending.off = before


class StaleSpec(Exception):
    """A deferred read ran on a spec that is no longer current."""


def take_pending_check() -> tuple[str, str, tuple] | None:
    """The stamp check a deferred read still owes: (column, value, expected row)."""
    check = getattr(_pending, "check", None)
    _pending.check = None
    return check


def stamp_query(check: tuple[str, str, tuple]) -> tuple[str, list]:
    return _STAMP_SQL.format(check[0]), [check[1]]


def confirm(check: tuple[str, str, tuple], row) -> None:
    """Raise StaleSpec (and forget the spec seen under the name) if the stamp moved."""
    if row is None or tuple(row) != check[2]:
        _seen.pop(check[:2], None)
        raise StaleSpec


def settle_pending() -> bool:
    """Make the check a deferred read still owes on its own; True if the spec was stale."""
    check = take_pending_check()
    if check is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(*stamp_query(check))
        row = cursor.fetchone()
    try:
        confirm(check, row)
    except StaleSpec:
        return True
    return False


def drop_pending() -> None:
    """After a failed statement: forget the check, and the spec the read used."""
    check = take_pending_check()
    if check is not None:
        _seen.pop(check[:2], None)


def spec_for(collection: Collection) -> CollectionSpec:
    cached = _specs.get(collection.id)
    if cached is not None and cached.stamp == (
        collection.schema_version,
        collection.updated,
    ):
        return cached
    fields = list(Field.objects.filter(collection_id=collection.id))
    spec = CollectionSpec.from_rows(collection, fields)
    _specs[collection.id] = spec
    return spec


def model_for(spec: CollectionSpec) -> type[models.Model]:
    cached = _models.get(spec.id)
    if cached is not None and cached[0] == spec.stamp:
        return cached[1]
    with _lock:
        cached = _models.get(spec.id)
        if cached is not None and cached[0] == spec.stamp:
            return cached[1]
        model = build_model(spec)
        if spec.stamp:
            _models[spec.id] = (spec.stamp, model)
        return model


def forget(collection_id: str) -> None:
    _specs.pop(collection_id, None)
    _raw_stamps.pop(collection_id, None)
    for key, (row, _) in list(_seen.items()):
        if row[0] == collection_id:
            _seen.pop(key, None)
    _models.pop(collection_id, None)
