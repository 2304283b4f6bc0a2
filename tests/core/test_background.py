"""The background thread of server processes (baas/lifecycle.py): a collection created
or changed after a process started is loaded there within a second, before a request
to it has to build it."""

from __future__ import annotations

from apps.collections.dynamic import cache
from apps.collections.services import get_spec, schema_stamps
from baas.lifecycle import background_step


def test_a_collection_made_after_start_is_loaded_by_the_next_turn(schema_db, admin):
    stamps = background_step(None)  # the process's start: nothing to compare yet
    response = admin.post(
        "/api/v1/collections",
        {"name": "later", "fields": [{"name": "title", "type": "text"}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    spec = get_spec("later")
    cache.forget(spec.id)  # as in another process, which has not seen it
    assert spec.id not in cache._models

    stamps = background_step(stamps)

    assert cache._models[spec.id][0] == spec.stamp
    assert stamps == schema_stamps()


def test_an_unchanged_schema_loads_nothing(schema_db, admin, monkeypatch):
    stamps = background_step(None)
    warmed = []
    monkeypatch.setattr(
        "apps.collections.services.warm_up", lambda ids=None: warmed.append(ids)
    )
    background_step(stamps)
    assert warmed == []
