"""Stored files: write before the record, attach in its transaction, delete after it."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from apps.core import outbox
from apps.core.exceptions import ErrorItem, InvalidInput, ServiceUnavailable
from apps.files import storage
from apps.files.models import StoredFile
from apps.files.naming import SNIFF_BYTES, sniff, stored_name, type_allowed
from apps.files.thumbs import THUMBABLE_TYPES

log = logging.getLogger(__name__)

THUMBS_TASK = "baas.files.make_thumbs"


def _head(upload) -> bytes:
    upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    upload.seek(0)
    return head


def check_type(field, content_type: str) -> None:
    """400 unless the field's `mime_types` allow what the bytes are."""
    if not type_allowed(content_type, field.options.get("mime_types")):
        raise InvalidInput(
            errors=[
                ErrorItem(
                    "file_type_not_allowed",
                    f"{field.name!r} does not take {content_type} files.",
                    field.name,
                )
            ]
        )


def store_upload(upload, *, collection_id: str, record_id: str, field) -> StoredFile:
    """Judge an uploaded file by its bytes, then write it under a new pending row."""
    content_type = sniff(_head(upload))
    check_type(field, content_type)
    name = stored_name(getattr(upload, "name", None))
    row = StoredFile.objects.create(
        collection_id=collection_id,
        record_id=record_id,
        field_id=field.id,
        name=name,
        key=storage.record_key(collection_id, record_id, name),
        size=upload.size,
        content_type=content_type,
    )
    try:
        storage.save(row.key, upload)
    except Exception as exc:
        row.delete()
        log.warning("file storage refused %s", row.key, exc_info=True)
        raise ServiceUnavailable(
            "File storage is unavailable; try again shortly.",
            code="storage_unavailable",
            headers={"Retry-After": "5"},
        ) from exc
    except BaseException:
        row.delete()
        raise
    return row


def attach(ids: list[str]) -> None:
    """Inside the record's transaction: these files now belong to it."""
    if ids:
        StoredFile.objects.filter(pk__in=ids).update(state=StoredFile.ATTACHED)


def release(
    collection_id: str,
    record_ids: list[str],
    *,
    field_id: str | None = None,
    names: list[str] | None = None,
) -> None:
    """Inside a transaction: the records no longer hold these files; they are deleted
    after commit (or by the cleanup job, if the process dies first)."""
    rows = StoredFile.objects.filter(
        collection_id=collection_id,
        record_id__in=record_ids,
        state=StoredFile.ATTACHED,
    )
    if field_id is not None:
        rows = rows.filter(field_id=field_id)
    if names is not None:
        rows = rows.filter(name__in=names)
    ids = list(rows.values_list("pk", flat=True))
    if not ids:
        return
    StoredFile.objects.filter(pk__in=ids).update(state=StoredFile.DELETING)
    transaction.on_commit(
        lambda: delete_rows(StoredFile.objects.filter(pk__in=ids)), robust=True
    )


def delete_rows(rows: Iterable[StoredFile]) -> int:
    """Delete objects (and their thumbnails), then their rows; a failure leaves the row
    for the cleanup job to retry."""
    deleted = 0
    for row in list(rows):
        try:
            thumbs_dir = storage.record_key(
                row.collection_id, row.record_id, f"thumbs_{row.name}"
            )
            for key, _ in list(storage.walk(thumbs_dir)):
                storage.delete(key)
            storage.delete(row.key)
        except Exception:  # storage down: the row stays, the job retries
            log.warning("could not delete stored file %s", row.key, exc_info=True)
            continue
        StoredFile.objects.filter(pk=row.pk).delete()
        deleted += 1
    return deleted


def schedule_thumbs(field, rows: list[StoredFile]) -> None:
    """Inside the record's transaction: thumbnails of new images, made by a worker."""
    if not field.options.get("thumbs"):
        return
    ids = [row.pk for row in rows if row.content_type in THUMBABLE_TYPES]
    if ids:
        outbox.enqueue(THUMBS_TASK, ids)
