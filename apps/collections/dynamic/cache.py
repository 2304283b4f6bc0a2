"""Per-process caches of specs and models, keyed by (collection id, schema version).

Every request reads the collection row (one indexed query) and so sees the current
version: a schema change committed by any process is picked up on the next request.
"""

from __future__ import annotations

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


def current_spec(column: str, value: str) -> CollectionSpec | None:
    """The spec of the collection whose `column` ("name_key" or "id") is `value`.

    The hot path of every record request: one indexed raw query for the version stamp
    (no ORM), and the cached spec if it is still current.
    """
    with connection.cursor() as cursor:
        cursor.execute(_STAMP_SQL.format(column), [value])
        row = cursor.fetchone()
    if row is None:
        return None
    collection_id, version, updated = row
    raw = (version, str(updated))
    cached = _raw_stamps.get(collection_id)
    if cached is not None and cached[0] == raw:
        return cached[1]
    collection = Collection.objects.filter(pk=collection_id).first()
    if collection is None:
        return None
    spec = spec_for(collection)
    if spec.version == version:
        _raw_stamps[collection_id] = (raw, spec)
    return spec


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
    _models.pop(collection_id, None)
