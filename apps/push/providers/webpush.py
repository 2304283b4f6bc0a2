"""Web Push (RFC 8030 / 8291 / 8292) on pywebpush: each target's payload encrypted
aes128gcm to its subscription keys, signed with the server's VAPID key, posted to its
endpoint.

A batch is sent concurrently with pywebpush's aiohttp path (`WebPusher.send_async`)
on one event loop thread per process, so connections to each push service are pooled
and kept alive across batches; the synchronous caller waits for the batch's results.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import os
import re
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid02, VapidException
from pywebpush import WebPusher, WebPushException

from apps.core.exceptions import InvalidInput
from apps.push import vapid
from apps.push.providers.base import (
    Outgoing,
    ProviderNotConfigured,
    Result,
    Target,
    retry_after_seconds,
)

#: push services keep a message this long (4 weeks) when the message sets no ttl
DEFAULT_TTL = 2419200
#: the largest body push services must accept (RFC 8030 section 7.2)
MAX_BODY = 4096
TIMEOUT = 10.0
#: requests in flight at once per process (all batches, all push services)
CONCURRENCY = 64
#: VAPID tokens are signed for 12 h and reused for an hour per audience
TOKEN_LIFETIME = 12 * 3600
TOKEN_REUSE = 3600
#: headers the provider owns; overrides cannot replace them
_OWN_HEADERS = frozenset(
    {
        "authorization",
        "content-encoding",
        "content-length",
        "content-type",
        "crypto-key",
        "encryption",
        "host",
        "transfer-encoding",
    }
)
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")

#: providers alive in this process, told when it forks
_providers: weakref.WeakSet[WebPushProvider] = weakref.WeakSet()
#: a forked child's inherited loops and sessions: kept referenced and never closed,
#: as closing them would unregister the parent's sockets from the epoll instance the
#: two processes share (and could write TLS close_notify on the parent's connections)
_inherited: list = []


def _after_fork_in_child() -> None:
    for provider in list(_providers):
        provider._forget_inherited()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _TooLarge(Exception):
    """The encrypted body is over MAX_BODY bytes."""


class _Redirected(Exception):
    """The push service answered a redirect (never followed: SSRF)."""


class _Pusher(WebPusher):
    """pywebpush's WebPusher that refuses, before any request, a body over 4096."""

    def encode(self, data: bytes, content_encoding: str = "aes128gcm"):
        reply = super().encode(data, content_encoding)
        if len(reply["body"]) > MAX_BODY:
            raise _TooLarge(len(reply["body"]))
        return reply


def from_settings() -> WebPushProvider:
    """The provider from django.conf.settings (VAPID key generated when not set)."""
    subject = settings.BAAS_VAPID_SUBJECT
    if not subject:
        raise ProviderNotConfigured("BAAS_VAPID_SUBJECT is not set (mailto: or https:)")
    keys = vapid.keys()
    try:
        Vapid02(keys.private_key).sign({"aud": "https://example.com", "sub": subject})
    except VapidException:
        raise ProviderNotConfigured(
            f"BAAS_VAPID_SUBJECT {subject!r} is not a mailto: address or https: URL"
        ) from None
    return WebPushProvider(keys.private_key, subject)


@dataclass
class _Runtime:
    """One process's sending machinery: an event loop thread and its HTTP session."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    session: aiohttp.ClientSession
    slots: asyncio.Semaphore  # requests in flight
    pending: set[concurrent.futures.Future] = field(default_factory=set)


class WebPushProvider:
    """Sends to Web Push subscriptions (token = endpoint URL, keys = p256dh/auth)."""

    platform = "webpush"

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        subject: str,
        *,
        timeout: float = TIMEOUT,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._vapid = Vapid02(private_key)
        self._subject = subject
        self._timeout = timeout
        self._concurrency = self.concurrency = concurrency
        self._tokens: dict[str, tuple[str, float]] = {}  # aud -> (header, renew at)
        self._lock = threading.Lock()
        self._runtime: _Runtime | None = None
        _providers.add(self)

    # --- public ---------------------------------------------------------------------

    def send(self, outgoing: Outgoing, targets: Sequence[Target]) -> list[Result]:
        """Send `outgoing` to each subscription, concurrently; one Result each."""
        if not targets:
            return []
        payload = _payload(outgoing)
        headers = _headers(outgoing)
        results: list[Result] = []
        jobs: list[tuple[Target, dict[str, str]]] = []
        for target in targets:
            try:
                vapid.check_endpoint(target.token)
            except InvalidInput:
                results.append(
                    Result(target.delivery_id, "failed", "endpoint host not allowed")
                )
                continue
            jobs.append((target, {**headers, **self._authorization(target.token)}))
        if not jobs:
            return results
        with self._lock:
            runtime = self._start()
            batch = asyncio.run_coroutine_threadsafe(
                self._send_all(runtime, payload, jobs), runtime.loop
            )
            runtime.pending.add(batch)
        try:
            results.extend(batch.result())
        except concurrent.futures.CancelledError:
            closed = "the provider was closed while sending"
            results.extend(Result(t.delivery_id, "retry", closed) for t, _ in jobs)
        finally:
            runtime.pending.discard(batch)
        return results

    def close(self) -> None:
        """Close the pooled connections and stop the loop thread."""
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        closing = asyncio.run_coroutine_threadsafe(
            runtime.session.close(), runtime.loop
        )
        try:
            closing.result(5)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        runtime.loop.call_soon_threadsafe(runtime.loop.stop)
        runtime.thread.join(5)
        for batch in list(runtime.pending):  # sends the stopped loop will not finish
            batch.cancel()
        if not runtime.thread.is_alive():
            runtime.loop.close()

    # --- VAPID ----------------------------------------------------------------------

    def _authorization(self, endpoint: str) -> dict[str, str]:
        """The VAPID Authorization for the endpoint's origin, signed once per hour."""
        aud = _origin(endpoint)
        now = time.time()
        cached = self._tokens.get(aud)
        if cached is None or cached[1] <= now:
            exp = int(now) + TOKEN_LIFETIME
            claims = {"aud": aud, "sub": self._subject, "exp": exp}
            header = self._vapid.sign(claims)["Authorization"]
            cached = self._tokens[aud] = (header, now + TOKEN_REUSE)
        return {"authorization": cached[0]}

    # --- the loop thread ------------------------------------------------------------

    def _forget_inherited(self) -> None:
        """In a forked child: drop the parent's loop (its thread does not exist here)
        and lock (another thread may have held it), so the next send starts afresh."""
        _inherited.append(self._runtime)
        self._runtime = None
        self._lock = threading.Lock()

    def _start(self) -> _Runtime:
        """This process's runtime, started on first use (call with the lock held)."""
        if self._runtime is not None:
            return self._runtime
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name="webpush-sender", daemon=True
        )
        thread.start()
        session, slots = asyncio.run_coroutine_threadsafe(self._open(), loop).result()
        self._runtime = _Runtime(loop, thread, session, slots)
        return self._runtime

    async def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        async def refuse_redirect(session, context, params) -> None:
            raise _Redirected(params.response.status)

        tracing = aiohttp.TraceConfig()
        tracing.on_request_redirect.append(refuse_redirect)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self._concurrency, keepalive_timeout=30, ttl_dns_cache=300
            ),
            trace_configs=[tracing],
            fallback_charset_resolver=_charset,
            trust_env=False,
        )
        return session, asyncio.Semaphore(self._concurrency)

    async def _send_all(
        self,
        runtime: _Runtime,
        payload: bytes,
        jobs: list[tuple[Target, dict[str, str]]],
    ) -> list[Result]:
        sends = (self._send_one(runtime, payload, *job) for job in jobs)
        return list(await asyncio.gather(*sends))

    async def _send_one(
        self, runtime: _Runtime, payload: bytes, target: Target, headers: dict
    ) -> Result:
        """One push; every problem becomes this target's Result."""
        delivery = target.delivery_id
        subscription = {"endpoint": target.token, "keys": target.keys or {}}
        try:
            pusher = _Pusher(subscription, aiohttp_session=runtime.session)
        except (WebPushException, ValueError, TypeError) as exc:
            return Result(delivery, "failed", f"invalid subscription keys: {exc}")
        async with runtime.slots:
            try:
                response = await pusher.send_async(
                    payload,
                    headers,
                    ttl=0,  # keeps the TTL header in `headers`
                    content_encoding="aes128gcm",
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                )
                text = await response.text(errors="replace")
            except _TooLarge as exc:
                return Result(
                    delivery,
                    "failed",
                    f"payload too large: {exc.args[0]} bytes encrypted, "
                    f"push services take {MAX_BODY}",
                )
            except _Redirected as exc:
                return Result(
                    delivery,
                    "failed",
                    f"push service answered {exc.args[0]}: redirects are not followed",
                )
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                reason = f"network error: {type(exc).__name__}: {exc}".strip(": ")
                return Result(delivery, "retry", reason[:200])
            except (WebPushException, ValueError, TypeError) as exc:
                # keys that are no P-256 point, or an unusable header override
                return Result(delivery, "failed", f"not sent: {exc}"[:200])
            except Exception as exc:  # noqa: BLE001 - e.g. the session was closed
                reason = f"not sent: {type(exc).__name__}: {exc}"
                return Result(delivery, "retry", reason[:200])
        return _result(delivery, response.status, response.headers, text)


def _result(delivery: int, status: int, headers, text: str) -> Result:
    """A push service's answer -> Result (RFC 8030 section 5 and common practice)."""
    detail = f"{status} {' '.join(text.split())}".strip()[:200]
    if status in (200, 201, 202):
        return Result(delivery, "sent", provider_id=headers.get("Location", ""))
    if status in (404, 410):
        return Result(delivery, "invalid_token", detail)
    if status == 413:
        return Result(delivery, "failed", f"payload too large ({detail})"[:200])
    if status == 429 or status >= 500:
        return Result(
            delivery,
            "retry",
            detail,
            retry_after=retry_after_seconds(headers.get("Retry-After")),
        )
    return Result(delivery, "failed", detail)


def _charset(response: aiohttp.ClientResponse, body: bytes) -> str:
    """Error bodies without a charset: UTF-8 when they decode as such, else Latin-1."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _origin(endpoint: str) -> str:
    """The endpoint's origin, VAPID's `aud`: scheme://host[:port] (default port left
    out)."""
    parts = urlsplit(endpoint)
    scheme, host, port = (
        parts.scheme.lower(),
        (parts.hostname or "").lower(),
        parts.port,
    )
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == {"https": 443, "http": 80}.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _payload(outgoing: Outgoing) -> bytes:
    """The JSON the service worker receives, with the webpush payload override."""
    notification = outgoing.notification or {}
    body: dict = {
        name: notification[name]
        for name in ("title", "body", "image", "badge", "sound")
        if notification.get(name) is not None
    }
    body["data"] = dict(outgoing.data or {})
    body["message_id"] = outgoing.message_id
    override = (outgoing.overrides or {}).get("webpush") or {}
    body = _merge(body, override.get("payload") or {})
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _merge(base: dict, extra: dict) -> dict:
    """`extra` deep-merged over `base` (nested dicts merge, anything else replaces)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _headers(outgoing: Outgoing) -> dict[str, str]:
    """TTL, Urgency, Topic and the override headers (lower-case names)."""
    headers = {
        "ttl": str(DEFAULT_TTL if outgoing.ttl is None else max(0, int(outgoing.ttl))),
        "urgency": "high" if outgoing.priority == "high" else "normal",
    }
    if outgoing.collapse_key:
        headers["topic"] = topic(outgoing.collapse_key)
    override = (outgoing.overrides or {}).get("webpush") or {}
    for name, value in (override.get("headers") or {}).items():
        if str(name).lower() not in _OWN_HEADERS:
            headers[str(name).lower()] = str(value)
    return headers


def topic(collapse_key: str) -> str:
    """A Topic header value: the key when it is one (<= 32 base64url characters),
    else 32 characters of its SHA-256 in that alphabet."""
    if _TOPIC.fullmatch(collapse_key):
        return collapse_key
    digest = hashlib.sha256(collapse_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")[:32]
