"""Files for the tests: real images made with Pillow, hostile bytes, upload helpers."""

from __future__ import annotations

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.files import storage
from apps.files.models import StoredFile

RECORDS = "/api/v1/collections/{}/records"
FILES = "/api/v1/files"


def png(width: int = 40, height: int = 30, color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 40, height: int = 30) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 10)).save(out, "JPEG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, with one tiny IDAT: the
    shape of a decompression bomb, without the gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


def upload(name: str, content: bytes, content_type: str = "image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def file_url(collection: str, record_id: str, name: str, **query) -> str:
    url = f"{FILES}/{collection}/{record_id}/{name}"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def stored_keys(collection_id: str) -> set[str]:
    """The keys stored for one collection (the store outlives each test's database)."""
    return {key for key, _ in storage.walk(collection_id)}


def rows() -> list[StoredFile]:
    return list(StoredFile.objects.order_by("created"))
