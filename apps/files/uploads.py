"""Direct uploads (S3-compatible storage): the client sends the bytes straight to
storage with a presigned URL; the completion call checks them before the record gets
the file. An upload never completed is removed by the cleanup job."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from apps.core.exceptions import (
    Conflict,
    ErrorItem,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from apps.files import services, storage
from apps.files.field_type import StoredUpload
from apps.files.models import StoredFile
from apps.files.naming import SNIFF_BYTES, sniff, stored_name
from apps.records import records

UPLOAD_TYPE = "application/octet-stream"


def _uploader(actor) -> str:
    """Who may complete an upload: the same user or key that began it."""
    key_id = getattr(actor, "key_id", None)
    if key_id is not None:
        return f"key:{key_id}"
    return str(getattr(actor, "pk", "") or "")


def _file_field(spec, name):
    field = next((f for f in spec.fields if f.name == name), None)
    if field is None or field.type != "file":
        raise InvalidInput(
            errors=[ErrorItem("invalid", f"{name!r} is not a file field.", "field")]
        )
    return field


def _require(data: dict, key: str, kind: type):
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool) or value in ("", None):
        raise InvalidInput(errors=[ErrorItem("required", f"{key} is required.", key)])
    return value


def upload_begin(*, actor, data) -> dict:
    if not storage.is_s3():
        raise Conflict(
            "Direct uploads need S3-compatible storage; send the file as multipart.",
            code="direct_uploads_unavailable",
        )
    collection = _require(data, "collection", str)
    record_id = _require(data, "record", str)
    field_name = _require(data, "field", str)
    size = _require(data, "size", int)
    original = data.get("name") if isinstance(data.get("name"), str) else None
    spec = records.record_check_update(
        actor=actor,
        collection=collection,
        record_id=record_id,
        data={field_name: None},
    )
    field = _file_field(spec, field_name)
    if not 0 < size <= field.options["max_size"]:
        raise PayloadTooLarge(
            f"A file of {field.name!r} may hold {field.options['max_size']} bytes.",
            code="file_too_large",
            param="size",
        )
    name = stored_name(original)
    row = StoredFile.objects.create(
        collection_id=spec.id,
        record_id=record_id,
        field_id=field.id,
        name=name,
        key=storage.record_key(spec.id, record_id, name),
        declared_size=size,
        uploader=_uploader(actor),
    )
    expires = timezone.now() + timezone.timedelta(seconds=settings.BAAS_S3_URL_TTL)
    return {
        "id": row.pk,
        "method": "PUT",
        "url": storage.presigned_put(row.key, content_type=UPLOAD_TYPE),
        "headers": {"Content-Type": UPLOAD_TYPE},
        "expires": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def upload_complete(*, actor, upload_id: str) -> dict:
    row = StoredFile.objects.filter(
        pk=upload_id, state=StoredFile.PENDING, declared_size__isnull=False
    ).first()
    if row is None or row.uploader != _uploader(actor):
        raise NotFound("No such upload.", code="upload_not_found")
    from apps.collections.services import get_spec_by_id

    spec = get_spec_by_id(row.collection_id)
    field = spec.field_by_id(row.field_id)
    if field is None:
        raise NotFound("No such upload.", code="upload_not_found")
    try:
        size = storage.size(row.key)
    except Exception:
        raise Conflict(
            "Nothing was uploaded to the URL yet.", code="upload_incomplete"
        ) from None
    if size != row.declared_size or size > field.options["max_size"]:
        services.delete_rows([row])
        raise InvalidInput(
            errors=[
                ErrorItem(
                    "size_mismatch",
                    f"The upload holds {size} bytes, not the {row.declared_size} "
                    "declared (or more than the field allows).",
                    field.name,
                )
            ]
        )
    content_type = sniff(storage.read_head(row.key, SNIFF_BYTES))
    try:
        services.check_type(field, content_type)
    except InvalidInput:
        services.delete_rows([row])
        raise
    StoredFile.objects.filter(pk=row.pk).update(size=size, content_type=content_type)
    row.size, row.content_type = size, content_type
    key = f"{field.name}+" if field.options.get("multiple") else field.name
    return records.record_update(
        actor=actor,
        collection=spec.name,
        record_id=row.record_id,
        data={key: StoredUpload(row)},
    )
