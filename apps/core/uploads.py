"""Multipart uploads: streamed to temporary files on disk, each file's size enforced
while it is read (413 as soon as a file passes its limit, not after the whole body)."""

from __future__ import annotations

from django.core.files.uploadhandler import (
    FileUploadHandler,
    TemporaryFileUploadHandler,
)
from rest_framework.parsers import MultiPartParser

from apps.core.exceptions import PayloadTooLarge


class SizeLimitHandler(FileUploadHandler):
    """First in the chain: counts each file's bytes against its field's limit."""

    def __init__(self, request=None, *, limits: dict[str, int], default: int) -> None:
        super().__init__(request)
        self.limits = limits
        self.default = default
        self.limit = default
        self.received = 0

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.limit = self.limits.get(field_name.rstrip("+"), self.default)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            raise PayloadTooLarge(
                f"A file of {self.field_name.rstrip('+')!r} may hold {self.limit} bytes.",
                code="file_too_large",
                param=self.field_name.rstrip("+"),
            )
        return raw_data

    def file_complete(self, file_size):
        return None


def use_limited_handlers(request, limits: dict[str, int], default: int) -> None:
    """Before request.data is read: files go to disk, each within its field's limit."""
    django_request = getattr(request, "_request", request)
    django_request.upload_handlers = [
        SizeLimitHandler(django_request, limits=limits, default=default),
        TemporaryFileUploadHandler(django_request),
    ]


class UploadParser(MultiPartParser):
    """DRF's multipart parser; the view installs the handlers (use_limited_handlers)."""
