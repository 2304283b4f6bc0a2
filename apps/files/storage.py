"""The file store: the data directory by default, S3-compatible storage when configured
(settings.STORAGES["baas_files"], django-storages + boto3)."""

from __future__ import annotations

from typing import BinaryIO

from django.conf import settings
from django.core.files.storage import Storage, storages


def store() -> Storage:
    return storages["baas_files"]


def is_s3() -> bool:
    return bool(settings.BAAS_S3_BUCKET)


def record_key(collection_id: str, record_id: str, name: str) -> str:
    return f"{collection_id}/{record_id}/{name}"


def save(key: str, content) -> None:
    """Write an object under exactly `key` (keys are unique: StoredFile.key)."""
    saved = store().save(key, content)
    if saved != key:  # the storage chose another name: never expected, never silent
        store().delete(saved)
        raise RuntimeError(f"storage renamed {key!r} to {saved!r}")


def open_read(key: str) -> BinaryIO:
    return store().open(key, "rb")


def delete(key: str) -> None:
    """Delete an object; a missing one is already deleted."""
    store().delete(key)


def exists(key: str) -> bool:
    return store().exists(key)


def size(key: str) -> int:
    return store().size(key)


def read_head(key: str, length: int) -> bytes:
    """The first `length` bytes of an object (a ranged GET on S3)."""
    if is_s3():
        obj = _s3_object(key)
        answer = obj.get(Range=f"bytes=0-{max(length - 1, 0)}")
        return answer["Body"].read()
    with open_read(key) as handle:
        return handle.read(length)


def _s3_key(s3, key: str) -> str:
    """The bucket key of a storage name (with BAAS_S3_PREFIX), as django-storages
    computes it."""
    from storages.utils import clean_name

    return s3._normalize_name(clean_name(key))


def _s3_object(key: str):
    s3 = store()
    return s3.bucket.Object(_s3_key(s3, key))


def presigned_get(key: str, *, filename_header: str, content_type: str) -> str:
    """A short-lived URL that serves the object with our headers (S3 only)."""
    s3 = store()
    return s3.bucket.meta.client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": s3.bucket_name,
            "Key": _s3_key(s3, key),
            "ResponseContentDisposition": filename_header,
            "ResponseContentType": content_type,
        },
        ExpiresIn=settings.BAAS_S3_URL_TTL,
    )


def presigned_put(key: str, *, content_type: str) -> str:
    """A short-lived URL a client can PUT one object to (S3 only)."""
    s3 = store()
    return s3.bucket.meta.client.generate_presigned_url(
        "put_object",
        Params={
            "Bucket": s3.bucket_name,
            "Key": _s3_key(s3, key),
            "ContentType": content_type,
        },
        ExpiresIn=settings.BAAS_S3_URL_TTL,
    )


def walk(prefix: str = ""):
    """Every key under `prefix` with its modification time (for the orphan sweep)."""
    s3 = store()
    if is_s3():
        full = _s3_key(s3, prefix) if prefix else s3.location
        root = f"{s3.location}/" if s3.location else ""
        for obj in s3.bucket.objects.filter(Prefix=full):
            yield obj.key[len(root) :], obj.last_modified
        return
    yield from _walk_local(s3, prefix)


def _walk_local(fs: Storage, prefix: str):
    try:
        directories, files = fs.listdir(prefix)
    except FileNotFoundError:
        return
    for name in files:
        key = f"{prefix}/{name}" if prefix else name
        yield key, fs.get_modified_time(key)
    for directory in directories:
        yield from _walk_local(fs, f"{prefix}/{directory}" if prefix else directory)
