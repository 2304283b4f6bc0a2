"""Stored names and content types: judged by us, never taken from the client."""

from __future__ import annotations

import secrets
import string
import unicodedata

import magic
import regex

SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 10
MAX_BASE_CHARS = 100
MAX_NAME_BYTES = 200  # storage keys and file systems count bytes (255 at most)
#: how much of a file libmagic looks at
SNIFF_BYTES = 64 * 1024

_UNSAFE = regex.compile(r"[^\p{L}\p{N}\p{M}._\-]+")
_EXTENSION = regex.compile(r"^[a-z0-9]{1,10}$")
_RUNS = regex.compile(r"_{2,}")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        c for c in text if unicodedata.category(c)[0] != "C"
    )  # NUL, controls
    return _RUNS.sub("_", _UNSAFE.sub("_", text))


def stored_name(original: str | None) -> str:
    """`<readable base>_<random suffix>.<ext>`: no separators, no dot files, Unicode kept."""
    name = (original or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _clean(name).strip("._")
    base, dot, ext = name.rpartition(".")
    if not dot:
        base, ext = name, ""
    ext = ext.lower()
    if not _EXTENSION.match(ext):
        base, ext = name if not dot else f"{base}_{ext}", ""
    base = base.strip("._")[:MAX_BASE_CHARS].strip("._") or "file"
    while len(base.encode()) > MAX_NAME_BYTES - SUFFIX_LENGTH - 13:
        base = base[:-1]
    suffix = "".join(secrets.choice(SUFFIX_ALPHABET) for _ in range(SUFFIX_LENGTH))
    return f"{base}_{suffix}.{ext}" if ext else f"{base}_{suffix}"


def valid_stored_name(name: object) -> bool:
    """Whether `name` could be one of ours (a cheap shape check before any lookup)."""
    return (
        isinstance(name, str)
        and 0 < len(name.encode()) <= MAX_NAME_BYTES
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
        and _clean(name) == name
    )


def sniff(head: bytes) -> str:
    """The MIME type of content that starts with `head` (libmagic)."""
    if not head:
        return "application/x-empty"
    found = magic.from_buffer(head[:SNIFF_BYTES], mime=True)
    return found or "application/octet-stream"


def type_allowed(content_type: str, allowed: list[str] | None) -> bool:
    """`allowed` entries are exact types or `type/*`; empty allows every type."""
    if not allowed:
        return True
    major = content_type.split("/", 1)[0]
    return any(a == content_type or a == f"{major}/*" for a in allowed)
