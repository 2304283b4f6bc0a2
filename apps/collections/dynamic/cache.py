"""Per-process caches of specs and models, keyed by (collection id, schema version).

Every request reads the collection row (one indexed query) and so sees the current
version: a schema change committed by any process is picked up on the next request.
"""

from __future__ import annotations

import threading

from django.db import models

from apps.collections.dynamic.factory import build_model
from apps.collections.models import Collection, Field
from apps.collections.spec import CollectionSpec

_specs: dict[str, CollectionSpec] = {}
_models: dict[str, tuple[tuple, type[models.Model]]] = {}
_lock = threading.Lock()


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
    _models.pop(collection_id, None)
