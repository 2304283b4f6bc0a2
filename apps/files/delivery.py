"""File responses: Range, validators, caching, and headers that keep uploaded content
from ever running in the API's origin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import format_datetime, parsedate_to_datetime

from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.http import content_disposition_header

from apps.files import storage

CHUNK = 256 * 1024
#: shown inline; everything else (HTML, SVG, XML, PDF, scripts, unknown) is a download
SAFE_INLINE = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/webm",
        "audio/aac",
        "audio/flac",
        "text/plain",
    }
)
#: every file response: no script, no plugin, no navigation from it, even if opened
SANDBOX_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; sandbox"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Served:
    """What to send: an object in storage and how to describe it."""

    def __init__(
        self,
        *,
        key: str,
        name: str,
        size: int,
        content_type: str,
        etag: str,
        modified,
        public: bool,
        download: bool,
    ) -> None:
        self.key = key
        self.name = name
        self.size = size
        self.content_type = content_type
        self.etag = etag
        self.modified = modified.replace(microsecond=0)
        self.public = public
        self.inline = content_type in SAFE_INLINE and not download

    @classmethod
    def file(cls, row, *, public: bool, download: bool) -> "Served":
        """A stored file (apps.files.models.StoredFile) as it was uploaded."""
        return cls(
            key=row.key,
            name=row.name,
            size=row.size,
            content_type=row.content_type,
            etag=f'"{row.pk}"',
            modified=row.created,
            public=public,
            download=download,
        )

    @classmethod
    def thumb(
        cls, row, thumb: str, made: tuple, *, public: bool, download: bool
    ) -> "Served":
        """A thumbnail of a stored file: `made` is thumbnails.ensure's (key, size, type)."""
        key, size, content_type = made
        return cls(
            key=key,
            name=f"{thumb}_{row.name}",
            size=size,
            content_type=content_type,
            etag=f'"{row.pk}-{thumb}"',
            modified=row.created,
            public=public,
            download=download,
        )


def _not_modified(request, served: Served) -> bool:
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return served.etag in {t.strip().removeprefix("W/") for t in tags.split(",")}
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return served.modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _byte_range(request, served: Served) -> tuple[int, int] | None | bool:
    """(first, last) for a satisfiable single range; None to send everything; False
    when the range cannot be satisfied (416)."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != served.etag:
        return None
    found = _RANGE.match(header.strip())
    if found is None:  # several ranges or another unit: the whole file (RFC 9110)
        return None
    first, last = found.groups()
    size = served.size
    if not first:
        if not last:
            return None
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def _stream(key: str, start: int, length: int) -> Iterator[bytes]:
    with storage.open_read(key) as handle:
        if start:
            handle.seek(start)
        left = length
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _headers(response, served: Served) -> None:
    response["ETag"] = served.etag
    response["Last-Modified"] = format_datetime(served.modified, usegmt=True)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = (
        "public, max-age=86400" if served.public else "private, max-age=86400"
    )
    if not served.public:
        response["Vary"] = "Authorization"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Content-Disposition"] = content_disposition_header(
        not served.inline, served.name
    )
    response.compress = False  # apps.core.middleware.GZipMiddleware leaves it alone


def respond(request, served: Served, *, redirect_over: int | None = None):
    """The response to a GET or HEAD of `served`."""
    if _not_modified(request, served):
        response = HttpResponse(status=304)
        _headers(response, served)
        del response["Content-Disposition"]
        return response
    if redirect_over is not None and served.size > redirect_over:
        url = storage.presigned_get(
            served.key,
            filename_header=content_disposition_header(not served.inline, served.name),
            content_type=served.content_type,
        )
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "private, no-store"
        return response
    chosen = _byte_range(request, served)
    if chosen is False:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{served.size}"
        _headers(response, served)
        return response
    start, end = chosen if chosen else (0, served.size - 1)
    length = max(end - start + 1, 0)
    if request.method == "HEAD":
        response = HttpResponse(status=206 if chosen else 200)
    else:
        response = StreamingHttpResponse(
            _stream(served.key, start, length), status=206 if chosen else 200
        )
    if chosen:
        response["Content-Range"] = f"bytes {start}-{end}/{served.size}"
    response["Content-Type"] = served.content_type
    response["Content-Length"] = str(length)
    _headers(response, served)
    return response
