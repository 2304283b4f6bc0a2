"""VAPID keys (RFC 8292) for Web Push, and the allowed-hosts check on subscription
endpoints that keeps the server from posting to arbitrary URLs (SSRF guard).

The private key comes from BAAS_VAPID_PRIVATE_KEY when set, accepted as: a path to a
PEM file (or a file holding base64 DER), PEM text, the base64url raw 32-byte private
key that `web-push generate-vapid-keys` and `vapid --gen --json` style tools print, or
base64 DER. Otherwise one is generated into BAAS_PUSH_DIR/vapid_private.pem.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from apps.core.exceptions import InvalidInput
from apps.push.providers.base import ProviderNotConfigured

KEY_FILE = "vapid_private.pem"
MAX_ENDPOINT_LENGTH = 2000


@dataclass(frozen=True)
class VapidKeys:
    """The server's VAPID key pair: the private key signs, browsers get public_key."""

    private_key: ec.EllipticCurvePrivateKey
    #: base64url (unpadded) uncompressed P-256 point: the applicationServerKey
    public_key: str

    @property
    def private_pem(self) -> bytes:
        """The private key as PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


_cache: dict[tuple[str, str], VapidKeys] = {}
_cache_lock = threading.Lock()


def keys() -> VapidKeys:
    """The configured or generated VAPID keys, loaded once per process per setting."""
    configured = settings.BAAS_VAPID_PRIVATE_KEY or ""
    push_dir = str(settings.BAAS_PUSH_DIR)
    cache_key = (configured, "" if configured else push_dir)
    found = _cache.get(cache_key)
    if found is not None:
        return found
    with _cache_lock:
        found = _cache.get(cache_key)
        if found is None:
            if configured:
                private = parse_private_key(configured)
            else:
                private = load_or_create_key(Path(push_dir) / KEY_FILE)
            found = _cache[cache_key] = _pair(private)
        return found


def _pair(private: ec.EllipticCurvePrivateKey) -> VapidKeys:
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(private, _b64url(point))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    text = "".join(text.split()).replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_private_key(value: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key from a PEM path, PEM text, base64url raw or base64 DER."""
    text = value.strip()
    where = "BAAS_VAPID_PRIVATE_KEY"
    if "-----BEGIN" not in text and os.path.isfile(os.path.expanduser(text)):
        where = f"{where} (file {text})"
        text = Path(text).expanduser().read_text().strip()
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = _b64decode(text)
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProviderNotConfigured(
            f"{where} is not a PEM file or text, a base64url raw key or base64 DER "
            f"private key: {exc}"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise ProviderNotConfigured(f"{where} is not a P-256 (prime256v1) EC key")
    return key


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The key in `path`, generated there (mode 0600) if missing; when several
    processes race, each writes its own temp file and the first os.link wins, so
    every process ends up reading the one complete file."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return serialization.load_pem_private_key(path.read_bytes(), password=None)
        return private
    finally:
        temp.unlink(missing_ok=True)


# --- endpoint check -----------------------------------------------------------------

_HOST_CHARS = re.compile(r"[a-z0-9.-]+")
# Printable ASCII without space, backslash and the characters parsers disagree on.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(
        f"The subscription endpoint is not allowed: {message}",
        code="endpoint_not_allowed",
        param="subscription.endpoint",
    )


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _parse_entry(entry: str) -> tuple[str, int | None]:
    """An allowed-hosts entry -> (host or *.suffix, port or None); a malformed entry
    gives a pattern that matches nothing."""
    entry = entry.strip().lower()
    if entry.startswith("["):  # [IPv6] or [IPv6]:port
        host, _, rest = entry[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:])
        return (host, None) if not rest else ("", None)
    host, colon, port = entry.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host, int(port)
    return entry, None


def check_endpoint(url: str) -> None:
    """Raise InvalidInput (endpoint_not_allowed) unless `url` is an https URL (http
    only where an entry names its exact host:port) on a BAAS_WEBPUSH_ALLOWED_HOSTS
    host: the guard against subscriptions that make the server post to internal
    addresses."""
    if not isinstance(url, str) or not url:
        raise _refuse("not a URL")
    if len(url) > MAX_ENDPOINT_LENGTH:
        raise _refuse(f"longer than {MAX_ENDPOINT_LENGTH} characters")
    if not _URL_CHARS.fullmatch(url):
        raise _refuse("characters outside printable ASCII URL syntax")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not url.lower().startswith(scheme + "://"):
        raise _refuse("not an https URL")
    if "@" in parts.netloc:
        raise _refuse("credentials (user@) are not allowed in the URL")
    if "#" in url:
        raise _refuse("a fragment (#) is not allowed in the URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise _refuse("no host")
    address = _ip(host)
    if parts.netloc.startswith("[") != (address is not None and address.version == 6):
        raise _refuse("not a valid host name")  # [IPv6] is the only bracketed form
    if address is None and not _HOST_CHARS.fullmatch(host):
        raise _refuse("not a valid host name")
    if address is None and (
        host.startswith(".")
        or host.endswith(".")
        or ".." in host
        or host.replace(".", "").isdigit()
    ):
        raise _refuse("not a valid host name")
    effective_port = port if port is not None else (443 if scheme == "https" else 80)

    for entry in settings.BAAS_WEBPUSH_ALLOWED_HOSTS:
        pattern, entry_port = _parse_entry(entry)
        if not pattern:
            continue
        if entry_port is None:  # a bare host: https on 443 only
            if scheme != "https" or effective_port != 443:
                continue
        elif entry_port != effective_port:
            continue
        if pattern.startswith("*.") and len(pattern) > 2:
            # Subdomains only, never IP literals, never plain http.
            if scheme == "https" and address is None and host.endswith(pattern[1:]):
                return
            continue
        if address is not None:
            if _ip(pattern) == address:
                return
            continue
        if host == pattern:
            return
    if address is not None:
        raise _refuse(f"the IP address {host} is not listed")
    raise _refuse(f"{host} (port {effective_port}) is not an allowed push service")
