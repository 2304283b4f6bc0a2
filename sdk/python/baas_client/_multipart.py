"""Record data with files as a streamed multipart/form-data body.

Each file is a part named after its field (modifier included: `documents+`); every other
value goes, as JSON, into one `@jsonPayload` field. Files are read in blocks while the
body is sent, never whole; the body can be opened again (a retry after a token refresh).
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# What a file value may be: a path, an open binary file, or (name, source[, type]).
FileSource = bytes | IO[bytes] | Path
FileValue = (
    Path | IO[bytes] | tuple[str, FileSource] | tuple[str, FileSource, str | None]
)

CHUNK = 64 * 1024
# Non-seekable streams are spooled to learn their size: in memory up to this, then disk.
SPOOL_MAX = 8 * 1024 * 1024
_UNSAFE = re.compile(r'[\x00-\x1f"\\]')


def _readable(value: Any) -> bool:
    return callable(getattr(value, "read", None)) and not isinstance(value, type)


def is_file_value(value: Any) -> bool:
    """True for a `Path`, an open file, or a `(filename, source[, type])` tuple."""
    if isinstance(value, Path) or _readable(value):
        return True
    return (
        isinstance(value, tuple)
        and len(value) in (2, 3)
        and isinstance(value[0], str)
        and (isinstance(value[1], bytes | bytearray | Path) or _readable(value[1]))
        and (len(value) == 2 or value[2] is None or isinstance(value[2], str))
    )


def _files_of(key: str, value: Any) -> list[Any] | None:
    """The files of one value (a file or a list of files), or None when it has none."""
    if is_file_value(value):
        return [value]
    if not isinstance(value, list) or not any(map(is_file_value, value)):
        return None
    if not all(map(is_file_value, value)):
        base = key.rstrip("+-")
        raise TypeError(
            f"{key!r}: a list holds either files to upload or names of stored files, "
            f"not both; send new files under {base + '+'!r} to add them."
        )
    return value


def has_files(data: Mapping[str, Any] | None) -> bool:
    """True when any value of `data` is a file or a list of files."""
    return bool(data) and any(_files_of(k, v) is not None for k, v in data.items())


def _quote(value: str) -> str:
    """A header parameter value, escaped as browsers do (HTML5 form submission)."""
    return _UNSAFE.sub(lambda m: "%{:02X}".format(ord(m.group())), value)


def _sized(source: Any) -> tuple[Any, int, int]:
    """`(source, start, size)`: where to read from and how many bytes."""
    if isinstance(source, Path):
        return source, 0, source.stat().st_size
    if isinstance(source, bytes | bytearray):
        return bytes(source), 0, len(source)
    if isinstance(source, io.TextIOBase):
        raise TypeError("Open the file in binary mode ('rb') to upload it.")
    try:
        if source.seekable():
            start = source.tell()
            end = source.seek(0, io.SEEK_END)
            source.seek(start)
            return source, start, end - start
    except (AttributeError, OSError, ValueError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)
    while block := source.read(CHUNK):
        spool.write(block)
    size = spool.tell()
    spool.seek(0)
    return spool, 0, size


@dataclass(frozen=True)
class FilePart:
    """One file: its part name, file name and type, and where its bytes are."""

    field: str
    filename: str
    content_type: str
    source: Any
    start: int
    size: int

    @classmethod
    def of(cls, field: str, value: Any, name: str | None = None) -> FilePart:
        """The part for one file value of `field`."""
        content_type = None
        if isinstance(value, tuple):
            name = name or value[0]
            content_type = value[2] if len(value) == 3 else None
            value = value[1]
        elif isinstance(value, Path):
            name = name or value.name
        else:
            raw = getattr(value, "name", None)
            name = name or (os.path.basename(raw) if isinstance(raw, str) else None)
        name = name or "file"
        content_type = (
            content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        source, start, size = _sized(value)
        return cls(field, name, content_type, source, start, size)

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in blocks, from its start, `size` of them exactly."""
        if isinstance(self.source, bytes):
            yield self.source
            return
        if isinstance(self.source, Path):
            with self.source.open("rb") as file:
                yield from _read_exactly(file, self.size)
            return
        self.source.seek(self.start)
        yield from _read_exactly(self.source, self.size)


def _read_exactly(file: IO[bytes], size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        block = file.read(min(CHUNK, left))
        if not block:
            raise OSError("The file got shorter while it was being uploaded.")
        left -= len(block)
        yield block


class Body:
    """A file-like request body read block by block (`requests` streams it)."""

    def __init__(self, pieces: list[bytes | FilePart], length: int) -> None:
        self.len = length  # requests reads `len` for the Content-Length header
        self._chunks = self._generate(pieces)
        self._buffer = bytearray()

    @staticmethod
    def _generate(pieces: list[bytes | FilePart]) -> Iterator[bytes]:
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from piece.chunks()

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left when negative); b"" at the end."""
        while size < 0 or len(self._buffer) < size:
            block = next(self._chunks, None)
            if block is None:
                break
            self._buffer += block
        end = len(self._buffer) if size < 0 else size
        out = bytes(self._buffer[:end])
        del self._buffer[:end]
        return out

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(CHUNK), b"")

    def close(self) -> None:
        """Stop reading (closes a file the body opened)."""
        self._chunks.close()


class Multipart:
    """A multipart/form-data body: the files as parts, the rest as `@jsonPayload`."""

    def __init__(self, payload: Mapping[str, Any], files: list[FilePart]) -> None:
        self.boundary = secrets.token_hex(16)
        self.payload = dict(payload)
        self.files = files

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Multipart | None:
        """The body for record `data`, or None when it holds no file (send JSON)."""
        if not has_files(data):
            return None
        payload: dict[str, Any] = {}
        files: list[FilePart] = []
        for key, value in data.items():
            found = _files_of(key, value)
            if found is None:
                payload[key] = value
            else:
                files.extend(FilePart.of(key, file) for file in found)
        return cls(payload, files)

    @property
    def content_type(self) -> str:
        """The request's Content-Type, with the boundary."""
        return f"multipart/form-data; boundary={self.boundary}"

    def _head(self, name: str, filename: str | None, content_type: str | None) -> bytes:
        lines = [f"--{self.boundary}"]
        disposition = f'Content-Disposition: form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        lines.append(disposition)
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def open(self) -> Body:
        """A fresh body to send, each file read again from its start."""
        pieces: list[bytes | FilePart] = []
        length = 0
        if self.payload:
            value = json.dumps(self.payload, ensure_ascii=False).encode()
            pieces.append(self._head("@jsonPayload", None, None) + value + b"\r\n")
        for part in self.files:
            pieces.append(self._head(part.field, part.filename, part.content_type))
            pieces.append(part)
            pieces.append(b"\r\n")
        pieces.append(f"--{self.boundary}--\r\n".encode())
        for piece in pieces:
            length += len(piece) if isinstance(piece, bytes) else piece.size
        return Body(pieces, length)


def assert_no_files(data: Mapping[str, Any] | None, where: str) -> None:
    """Refuse files where only JSON can go (batch operations)."""
    if has_files(data):
        raise TypeError(
            f"{where}: a batch is JSON only; upload files with create() or update()."
        )
