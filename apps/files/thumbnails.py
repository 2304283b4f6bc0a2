"""Thumbnails in storage: made once (by a worker after upload, or on first request),
then served like any file."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile

from apps.files import storage
from apps.files.models import StoredFile
from apps.files.thumbs import THUMBABLE_TYPES, parse_thumb, render_thumb, thumb_name

#: what render_thumb encodes each source type as (GIF's first frame becomes a PNG)
OUTPUT_TYPES = {"image/gif": "image/png"}


def thumb_key(row: StoredFile, thumb: str) -> str:
    return storage.record_key(
        row.collection_id, row.record_id, thumb_name(thumb, row.name)
    )


def ensure(row: StoredFile, thumb: str) -> tuple[str, int, str]:
    """(key, size, content type) of the thumbnail, made now if it is not stored yet;
    raises thumbs.ThumbError for an image too large or unreadable."""
    key = thumb_key(row, thumb)
    content_type = OUTPUT_TYPES.get(row.content_type, row.content_type)
    if storage.exists(key):
        return key, storage.size(key), content_type
    with storage.open_read(row.key) as source:
        data, content_type = render_thumb(
            source, parse_thumb(thumb), max_pixels=settings.BAAS_THUMB_MAX_PIXELS
        )
    storage.save(key, ContentFile(data))
    return key, len(data), content_type


def make_all(row: StoredFile, thumbs: list[str]) -> int:
    """Every thumbnail a field allows for one image; the count made or found."""
    if row.content_type not in THUMBABLE_TYPES:
        return 0
    for thumb in thumbs:
        ensure(row, thumb)
    return len(thumbs)
