"""Background work of files: thumbnails after upload, and the integrity jobs."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.collections.dynamic import cache
from apps.collections.services import get_spec_by_id
from apps.core.exceptions import NotFound
from apps.files import services, storage, thumbnails
from apps.files.models import StoredFile
from apps.files.thumbs import ThumbError

log = logging.getLogger(__name__)

#: a `deleting` row older than this lost its after-commit delete (a crash): retry it
DELETING_GRACE = dt.timedelta(minutes=1)
BATCH = 500


@shared_task(name=services.THUMBS_TASK, ignore_result=True)
def make_thumbs(ids: list[str]) -> int:
    """Every thumbnail the field allows, for new images; idempotent."""
    made = 0
    for row in StoredFile.objects.filter(pk__in=ids, state=StoredFile.ATTACHED):
        try:
            field = get_spec_by_id(row.collection_id).field_by_id(row.field_id)
        except NotFound:
            continue
        if field is None:
            continue
        try:
            made += thumbnails.make_all(row, field.options.get("thumbs") or [])
        except ThumbError as exc:  # a bomb or a broken image: no thumbnails, no retry
            log.info("no thumbnails for %s: %s", row.key, exc.code)
    return made


@shared_task(name="baas.files.cleanup", ignore_result=True)
def cleanup() -> int:
    """Finish what a crash interrupted: uploads never attached (after
    BAAS_FILES_PENDING_TTL) and deletes that did not run after commit."""
    now = timezone.now()
    stale = StoredFile.objects.filter(
        Q(
            state=StoredFile.PENDING,
            updated__lt=now - dt.timedelta(seconds=settings.BAAS_FILES_PENDING_TTL),
        )
        | Q(state=StoredFile.DELETING, updated__lt=now - DELETING_GRACE)
    ).order_by("updated")
    return services.delete_rows(stale[:BATCH])


@shared_task(name="baas.files.sweep", ignore_result=True)
def sweep() -> int:
    """Remove what no record holds: attached rows whose record, field or collection is
    gone, and stored objects without a row (written inside a transaction that rolled
    back). Reads everything: run daily."""
    return _detached_rows() + _unowned_objects()


def _detached_rows() -> int:
    released = 0
    pairs = (
        StoredFile.objects.filter(state=StoredFile.ATTACHED)
        .values_list("collection_id", "field_id")
        .distinct()
    )
    for collection_id, field_id in list(pairs):
        rows = StoredFile.objects.filter(
            collection_id=collection_id, field_id=field_id, state=StoredFile.ATTACHED
        )
        try:
            spec = get_spec_by_id(collection_id)
        except NotFound:
            spec = None
        field = spec.field_by_id(field_id) if spec else None
        if field is None or field.type != "file":
            released += services.delete_rows(rows)
            continue
        model = cache.model_for(spec)
        for chunk in _chunks(list(rows)):
            held = dict(
                model.objects.filter(pk__in={r.record_id for r in chunk}).values_list(
                    "pk", field.attname
                )
            )
            orphans = [r for r in chunk if not _names(held.get(r.record_id), r.name)]
            released += services.delete_rows(orphans)
    return released


def _names(value, name: str) -> bool:
    return value == name or (isinstance(value, list) and name in value)


def _chunks(items: list) -> list[list]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def _unowned_objects() -> int:
    """Objects older than the pending TTL whose key (or, for a thumbnail, whose
    original's key) has no row."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.BAAS_FILES_PENDING_TTL)
    removed = 0
    batch: list[tuple[str, str]] = []

    def flush() -> int:
        owners = {owner for _, owner in batch}
        known = set(
            StoredFile.objects.filter(key__in=owners).values_list("key", flat=True)
        )
        gone = [key for key, owner in batch if owner not in known]
        for key in gone:
            storage.delete(key)
        batch.clear()
        return len(gone)

    for key, modified in storage.walk():
        if modified is not None and _aware(modified) > cutoff:
            continue
        batch.append((key, _owner_key(key)))
        if len(batch) >= BATCH:
            removed += flush()
    if batch:
        removed += flush()
    return removed


def _owner_key(key: str) -> str:
    """A thumbnail `c/r/thumbs_<name>/<thumb>_<name>` belongs to `c/r/<name>`."""
    parts = key.split("/")
    if len(parts) == 4 and parts[2].startswith("thumbs_"):
        return "/".join([parts[0], parts[1], parts[2].removeprefix("thumbs_")])
    return key


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt.UTC)
