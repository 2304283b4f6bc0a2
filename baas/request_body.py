"""WSGI middleware around Django: request bodies as the HTTP server delivers them.

Chunked bodies. For a request sent with `Transfer-Encoding: chunked` (or an HTTP/2 body
sent without content-length) the server (granian, a2wsgi under uvicorn) passes the body in
`wsgi.input` but no CONTENT_LENGTH, and Django reads a body without CONTENT_LENGTH as
empty: a PATCH answered 200 having changed nothing. Here such a body is read in full, up to BAAS_MAX_BODY_SIZE, and handed
on with its length. A longer one is handed on with the length received so far, which is
over the limit, so apps.core.middleware.BodySizeLimitMiddleware answers 413.

Unread bodies. When Django answers without reading the body (a 401, 403 or 404 decided
from the headers) before the client has sent all of it, granian closes the kept-alive
connection after the response without saying so, and a client that reuses the connection
at once loses its next request ("server disconnected without sending a response"). So
what the application left unread is read and dropped before the response is handed to
the server; a body too large to read is answered with `Connection: close` instead.

Uploads. A multipart/form-data body (files) may be up to `upload_limit`; a chunked one is
spooled to a temporary file on disk, not held in memory.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable

CHUNK = 64 * 1024
#: methods whose requests come without a body (unless they say otherwise)
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})

StartResponse = Callable[..., Callable[[bytes], object]]


class RequestBodyMiddleware:
    """Chunked bodies read in full; unread bodies drained; both bounded by `limit`."""

    def __init__(
        self,
        app: Callable,
        limit: int,
        *,
        upload_limit: int | None = None,
        spool_dir: str | None = None,
        linger: int = 0,
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit or limit
        self.spool_dir = spool_dir
        #: behind `baas serve`'s proxy: how much more of a body too large to read is
        #: read and dropped before answering, so that the proxy, still forwarding it,
        #: does not meet a closed socket and lose the 413 (baas/front.py)
        self.linger = linger

    def _limit_for(self, environ: dict) -> int:
        content_type = environ.get("CONTENT_TYPE", "").lower()
        if content_type.startswith("multipart/form-data"):
            return self.upload_limit
        return self.limit

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if "HTTP_TRANSFER_ENCODING" in environ:
            # Sent with both, the body is chunked and Content-Length means nothing
            # (RFC 9112 6.3): a client library that adds both must not lose the body.
            environ.pop("CONTENT_LENGTH", None)
            length = None
        if not length:
            if (
                environ.get("REQUEST_METHOD") in BODILESS
                and "HTTP_TRANSFER_ENCODING" not in environ
            ):
                return self.app(environ, start_response)  # GET, HEAD: the hot path
            return self._unsized(environ, start_response)
        try:
            declared = int(length)
        except ValueError:  # BodySizeLimitMiddleware answers 400
            declared = 0
        if declared <= 0:
            return self.app(environ, start_response)
        if declared > self._limit_for(environ):  # refused unread (413): cannot go on
            return self._respond(environ, start_response, drain=None, close=True)
        return self._respond(environ, start_response, drain=environ["wsgi.input"])

    def _unsized(self, environ: dict, start_response: StartResponse):
        """A body without Content-Length: chunked (HTTP/1.1) or streamed (HTTP/2)."""
        stream = environ["wsgi.input"]
        limit = self._limit_for(environ)
        if limit > self.limit:  # an upload: spooled to disk
            body, size, complete = self._spool(stream, limit)
        else:
            data, complete = self._read(stream, limit)
            body, size = io.BytesIO(data), len(data)
        environ["CONTENT_LENGTH"] = str(size)
        environ["wsgi.input"] = body if complete else io.BytesIO(b"")
        if not complete and self.linger:
            self._read(stream, self.linger, keep=False)
        return self._respond(environ, start_response, drain=None, close=not complete)

    def _spool(self, stream, limit: int):
        """Up to limit + 1 bytes into a temporary file: (file, size, whether all)."""
        spool = tempfile.SpooledTemporaryFile(max_size=CHUNK * 16, dir=self.spool_dir)
        size = 0
        while size <= limit:
            part = stream.read(min(CHUNK, limit + 1 - size))
            if not part:
                spool.seek(0)
                return spool, size, True
            spool.write(part)
            size += len(part)
        spool.close()
        return None, size, False

    @staticmethod
    def _read(stream, limit: int, *, keep: bool = True) -> tuple[bytes, bool]:
        """Up to limit + 1 bytes: (what was read if `keep`, whether that was all)."""
        parts, size = [], 0
        while size <= limit:
            part = stream.read(min(CHUNK, limit + 1 - size))
            if not part:
                return b"".join(parts), True
            if keep:
                parts.append(part)
            size += len(part)
        return b"".join(parts), False

    def _respond(self, environ, start_response, *, drain, close: bool = False):
        """Run the application, drain what it left unread, then start the response:
        the server sends nothing before start_response (PEP 3333 lets an application
        call it as late as just before its first body bytes)."""
        deferred = _DeferredStart(start_response)
        result = self.app(environ, deferred)
        if deferred.refused_body():  # 413 from a limit met while reading: answer now
            deferred.start(close=True)
            if close:  # a body declared too large to read is not read
                return result
            return self._answer_then_drain(result, environ["wsgi.input"])
        if drain is not None:
            close = not self._read(drain, self.limit, keep=False)[1]
        deferred.start(close=close)
        return result

    def _answer_then_drain(self, result: Iterable[bytes], stream) -> Iterable[bytes]:
        """The 413's body, then what the client is still sending, read and dropped (up
        to `upload_limit`) until it stops: a server that closed at once, with the body
        unread, would reset the connection, and the proxy or client still sending
        could lose the answer (RFC 9112 9.6, "lingering close")."""
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        try:
            self._read(stream, self.upload_limit, keep=False)
        except OSError:  # the client went away: nothing left to drain
            pass


class _DeferredStart:
    """start_response held back until `start()`, which may add `Connection: close`."""

    def __init__(self, start_response: StartResponse) -> None:
        self.start_response = start_response
        self.pending: tuple | None = None
        self.write: Callable[[bytes], object] | None = None
        self.close = False

    def __call__(self, status: str, headers: list, exc_info=None):
        if self.write is not None:  # already started: an error after the first bytes
            return self.start_response(status, headers, exc_info)
        self.pending = (status, headers, exc_info)
        return self._write

    def refused_body(self) -> bool:
        """Whether the application answered 413: the client may still be sending a
        large body, which is not waited for (the connection closes instead)."""
        return self.pending is not None and self.pending[0].startswith("413")

    def start(self, *, close: bool) -> None:
        self.close = close
        if self.pending is not None:
            status, headers, exc_info = self.pending
            self.pending = None
            if self.close:
                headers = [*headers, ("Connection", "close")]
            self.write = self.start_response(status, headers, exc_info)

    def _write(self, data: bytes) -> object:
        """write(), for an application that uses it (Django does not)."""
        if self.write is None:
            self.start(close=self.close)
        assert self.write is not None
        return self.write(data)
