"""One webhook request, sent so that it cannot reach what it must not (docs/webhooks.md).

Server-side request forgery: a webhook URL is chosen by whoever holds a `webhooks` key,
and the worker that sends it sits inside the operator's network. So, unless
BAAS_WEBHOOK_ALLOW_PRIVATE is on, the host is resolved here and every address it
resolves to must be a public unicast one (no loopback, private, link-local, shared,
multicast, reserved or unspecified address, no cloud metadata service, also not as an
IPv4-mapped, 6to4, Teredo or NAT64 IPv6 address); the connection then goes to the
address that was checked (no second lookup a rebinding DNS server could answer
differently), with the URL's host in the Host header and in TLS (SNI and certificate).
Redirects are not followed. Connect and each read wait at most BAAS_WEBHOOK_TIMEOUT
seconds, the whole exchange at most twice that, and at most 64 KB of the answer is read
(never decompressed).

urllib3 (already a dependency) makes the connection: it connects to a given address
while verifying the certificate for another name, which Python's http.client cannot.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection

MAX_URL = 2048
MAX_RESPONSE = 64 * 1024
USER_AGENT = "baas-webhooks/1"
#: cloud metadata and host services that are not always in a private range
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server (a public address)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
KINDS = (
    ("loopback", "a loopback address"),
    ("unspecified", "an unspecified address"),
    ("link_local", "a link-local address"),
    ("multicast", "a multicast address"),
    ("private", "a private address"),
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """A URL or an address webhooks may not use; the message says why (for the log and
    the API's 400)."""


class Unresolvable(Refused):
    """The host has no address (now)."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart: where to connect and what to say there."""

    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, as sent in the request line
    host_header: str


@dataclass
class Outcome:
    """How one attempt went: `status` None when no answer came."""

    status: int | None = None
    error: str = ""
    latency_ms: int = 0
    body: bytes = b""
    location: str = ""


def parse_url(url) -> Target:
    """Refused for anything but an absolute http(s) URL without credentials."""
    if not isinstance(url, str) or not url:
        raise Refused("A webhook needs a url.")
    if len(url) > MAX_URL:
        raise Refused(f"The url is longer than {MAX_URL} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Refused("The url contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("The url is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("The url must start with http:// or https://.")
    if "@" in parts.netloc:
        raise Refused("The url must not contain a user name or password.")
    host = parts.hostname or ""
    if not host:
        raise Refused("The url has no host.")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise Refused("The url's host name is not valid.") from None
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ip is not None and ip.version == 6 else host
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(
        scheme=scheme,
        host=host,
        port=port or default,
        path=path,
        host_header=shown if port in (None, default) else f"{shown}:{port}",
    )


def _embedded(ip: Address) -> list[Address]:
    """The IPv4 addresses an IPv6 address carries, then the address itself."""
    found: list[Address] = []
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
        if ip in NAT64:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [*found, ip]


def why_forbidden(address: str) -> str | None:
    """Why webhooks may not reach `address` (None: a public unicast address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    for each in _embedded(ip):
        if each in METADATA:
            return "a cloud metadata address"
        for kind, what in KINDS:
            if getattr(each, f"is_{kind}"):
                return what
        if each.is_reserved or not each.is_global:
            return "not a public address"
    return None


def resolve(target: Target) -> list[str]:
    """The host's addresses, in the resolver's order (an IP literal is itself)."""
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):
        raise Unresolvable(f"{target.host} does not resolve.") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"{target.host} does not resolve.")
    return addresses


def checked_addresses(target: Target, *, allow_private: bool) -> list[str]:
    """The addresses to connect to; Refused if any of them is forbidden (a host name
    that also resolves to an internal address is not used at all)."""
    addresses = resolve(target)
    if not allow_private:
        for address in addresses:
            reason = why_forbidden(address)
            if reason is not None:
                raise Refused(
                    f"{target.host} resolves to {address}, {reason}; webhooks reach "
                    "public addresses only (BAAS_WEBHOOK_ALLOW_PRIVATE)."
                )
    return addresses


def check_url(url, *, allow_private: bool) -> str:
    """At save time: the url, or Refused. A host that does not resolve (yet) is
    accepted: every delivery checks again."""
    target = parse_url(url)
    try:
        checked_addresses(target, allow_private=allow_private)
    except Unresolvable:
        pass
    return url


def _connection(target: Target, address: str, timeout: float) -> HTTPConnection:
    if target.scheme == "https":
        return HTTPSConnection(
            address,
            target.port,
            timeout=timeout,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
        )
    return HTTPConnection(address, target.port, timeout=timeout)


def _describe(exc: BaseException, timeout: float) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or "timed out" in text.lower():
        return f"Timed out (after {timeout:g} s)."
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return "Connection refused."
    return text[:300]


def _connect(target: Target, addresses: list[str], timeout: float):
    """A connection to the first address that accepts one."""
    error: BaseException | None = None
    for address in addresses:
        connection = _connection(target, address, timeout)
        try:
            connection.connect()
            return connection
        except Exception as exc:  # refused, unreachable, timed out, TLS refused
            connection.close()
            error = exc
    assert error is not None
    raise error


def _abort(connection: HTTPConnection) -> None:
    """The whole exchange took too long: make the blocked read return."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _read_capped(response) -> bytes:
    """At most MAX_RESPONSE bytes of the answer, as they come."""
    chunks, size = [], 0
    while size < MAX_RESPONSE:
        chunk = response.read1(MAX_RESPONSE - size, decode_content=False)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
) -> Outcome:
    """POST `body` to `url`; never raises for anything the network or the receiver
    does (the outcome says what happened)."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse_url(url)
        addresses = checked_addresses(target, allow_private=allow_private)
    except Refused as exc:
        return Outcome(error=f"Refused: {exc}", latency_ms=elapsed())
    try:
        connection = _connect(target, addresses, timeout)
    except Exception as exc:
        return Outcome(error=_describe(exc, timeout), latency_ms=elapsed())
    fired = threading.Event()

    def abort() -> None:
        fired.set()  # before the close: the read it breaks must see why
        _abort(connection)

    watchdog = threading.Timer(2 * timeout, abort)
    watchdog.daemon = True
    watchdog.start()
    outcome = Outcome()
    try:
        connection.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Host": target.host_header,
                "User-Agent": USER_AGENT,
                "Content-Type": "application/json",
                "Accept-Encoding": "identity",
                "Connection": "close",
                **headers,
            },
            preload_content=False,
            decode_content=False,
        )
        response = connection.getresponse()
        outcome.status = response.status
        outcome.latency_ms = elapsed()
        outcome.location = (response.headers.get("Location") or "")[:300]
        outcome.body = _read_capped(response)
    except Exception as exc:  # reset, timed out, the watchdog, a malformed answer
        if outcome.status is None:
            outcome.latency_ms = elapsed()
            outcome.error = (
                f"Timed out (after {2 * timeout:g} s in all)."
                if fired.is_set()
                else _describe(exc, timeout)
            )
    finally:
        watchdog.cancel()
        connection.close()
    return outcome
