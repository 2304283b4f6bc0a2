"""APNs (Apple Push Notification service) with token-based auth, over HTTP/2.

One HTTP/2 connection per process (httpx, h2), kept open across batches as Apple asks;
a batch's requests are multiplexed on it, at most MAX_IN_FLIGHT at a time. The async
client lives on an event loop in a daemon thread of the process that first sends
(created lazily, so a forked worker makes its own); the synchronous send() hands each
batch to that loop and waits for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .base import Outgoing, ProviderNotConfigured, Result, Target, retry_after_seconds

DEFAULT_ENDPOINT = "https://api.push.apple.com"
PAYLOAD_LIMIT = 4096
VOIP_PAYLOAD_LIMIT = 5120
COLLAPSE_ID_LIMIT = 64
#: concurrent streams per process (APNs allows ~1000 per connection; keep it modest)
MAX_IN_FLIGHT = 100
#: a provider token is reused this long: Apple refuses one older than 60 minutes and
#: refreshing more often than every 20 minutes (TooManyProviderTokenUpdates)
TOKEN_LIFETIME = 50 * 60
#: an idle connection is reopened after this long rather than reused: below common NAT
#: idle timeouts (AWS NAT gateway: 350 s), which drop a connection without a word
IDLE_RECONNECT = 240.0
#: fixed forever: apns-id = uuid5(this, "<message_id>:<delivery_id>"), so a resend of
#: the same delivery carries the same apns-id
APNS_ID_NAMESPACE = uuid.UUID("6f2b7c1e-3d4a-5b8c-9e0f-a1b2c3d4e5f6")
#: a 400 with these reasons means the device token is no good for this app
INVALID_TOKEN_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
#: a 403 with these reasons is worth one retry with a fresh provider token
PROVIDER_TOKEN_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
_HEX = re.compile(r"[0-9a-fA-F]+")


class ApnsProvider:
    """Sends to iOS/macOS devices through APNs; one instance per process."""

    platform = "apns"
    concurrency = MAX_IN_FLIGHT

    def __init__(
        self,
        *,
        key_pem: bytes,
        key_id: str,
        team_id: str,
        topic: str,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError("not an EC P-256 private key (an APNs .p8 key)")
        self._key = key
        self.key_id = key_id
        self.team_id = team_id
        self.topic = topic
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # These three are only touched on the loop's thread.
        self._client: httpx.AsyncClient | None = None
        self._in_flight: asyncio.Semaphore | None = None
        self._jwt: tuple[str, float] | None = None  # (token, issued at)

    # --- the synchronous interface ---------------------------------------------------

    def send(self, outgoing: Outgoing, targets: Sequence[Target]) -> list[Result]:
        """Send `outgoing` to each target; one Result per target."""
        if not targets:
            return []
        try:
            headers, body = self._request_template(outgoing)
        except _Refused as refused:
            reason = refused.reason
            return [Result(t.delivery_id, "failed", reason=reason) for t in targets]
        except (AttributeError, TypeError, ValueError) as error:  # malformed overrides
            reason = f"BadMessage: {type(error).__name__}: {error}"
            return [Result(t.delivery_id, "failed", reason=reason) for t in targets]
        results: dict[int, Result] = {}  # by position in targets
        pending: list[tuple[int, Target, str]] = []
        for index, target in enumerate(targets):
            if not _HEX.fullmatch(target.token):
                # Not hex: no device has such a token, and it must not reach the URL.
                results[index] = Result(
                    target.delivery_id, "invalid_token", reason="BadDeviceToken"
                )
            else:
                name = f"{outgoing.message_id}:{target.delivery_id}"
                apns_id = str(uuid.uuid5(APNS_ID_NAMESPACE, name))
                pending.append((index, target, apns_id))
        unanswered = "Timeout: no answer in time"
        if pending:
            waves = math.ceil(len(pending) / MAX_IN_FLIGHT) + 1
            unanswered = self._run(
                self._send_all(headers, body, pending, results),
                # a last resort (every request has its own timeouts), should the
                # loop's thread be gone
                deadline=2 * self.timeout * waves + 10,
            )
        return [
            results.get(index) or Result(t.delivery_id, "retry", reason=unanswered)
            for index, t in enumerate(targets)
        ]

    def close(self) -> None:
        """Close the connection and stop the loop's thread; a later send reopens."""
        with self._lock:
            if self._pid != os.getpid():
                self._forget_parent()
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        self._client = self._in_flight = None
        if not thread.is_alive():
            loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, None], deadline: float) -> str:
        """Run `coroutine` on this process's loop and wait for it, up to `deadline`;
        the reason for the requests it left without a Result, if any."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            future.result(timeout=deadline)
        except TimeoutError:
            future.cancel()
            return "Timeout: no answer in time"
        except Exception as error:  # noqa: BLE001 - send() never raises
            return f"{type(error).__name__}: {error}"
        return "Timeout: no answer in time"

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop of this process, started on first use (after any fork)."""
        if self._pid != os.getpid():
            self._forget_parent()
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="apns-http2", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's loop, thread and connection (they
        exist only in the parent) without touching them."""
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop = self._thread = None
        self._client = self._in_flight = None

    # --- building the request --------------------------------------------------------

    def _request_template(self, outgoing: Outgoing) -> tuple[dict[str, str], bytes]:
        """The headers (without apns-id and authorization) and the JSON body."""
        notification = outgoing.notification or {}
        aps: dict[str, Any] = {}
        alert = {
            key: notification[key]
            for key in ("title", "body")
            if notification.get(key) not in (None, "")
        }
        if alert:
            aps["alert"] = alert
        if notification.get("badge") is not None:
            aps["badge"] = notification["badge"]
        if notification.get("sound"):
            aps["sound"] = notification["sound"]
        image = notification.get("image")
        if image:
            aps["mutable-content"] = 1  # lets the app's extension fetch the image
        visible = bool(aps)
        if not visible:
            aps["content-available"] = 1
        payload: dict[str, Any] = {"aps": aps}
        if image:
            payload["image"] = image
        for key, value in (outgoing.data or {}).items():
            payload.setdefault(key, value)
        headers = {
            "apns-topic": self.topic,
            "apns-push-type": "alert" if visible else "background",
            # Apple requires 5 for background pushes
            "apns-priority": "10" if visible and outgoing.priority == "high" else "5",
        }
        if outgoing.ttl is not None:
            headers["apns-expiration"] = (
                "0"
                if outgoing.ttl <= 0
                else str(int(self._clock()) + int(outgoing.ttl))
            )
        if outgoing.collapse_key:
            headers["apns-collapse-id"] = _collapse_id(outgoing.collapse_key)
        overrides = (outgoing.overrides or {}).get("apns") or {}
        for name, value in (overrides.get("headers") or {}).items():
            name = name.lower()
            if name in ("authorization", "apns-id"):
                continue  # ours: the provider token, the per-delivery id
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = str(value)
        payload = _deep_merge(payload, overrides.get("payload") or {})
        try:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise _Refused(f"BadPayload: {error}") from error
        encoded = body.encode()
        limit = (
            VOIP_PAYLOAD_LIMIT
            if headers.get("apns-push-type") == "voip"
            else PAYLOAD_LIMIT
        )
        if len(encoded) > limit:
            raise _Refused("PayloadTooLarge")
        return headers, encoded

    # --- on the loop -----------------------------------------------------------------

    async def _send_all(
        self,
        headers: dict[str, str],
        body: bytes,
        pending: list[tuple[int, Target, str]],
        results: dict[int, Result],
    ) -> None:
        """Send every pending request concurrently, recording each Result."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.endpoint,
                # http:// then means HTTP/2 with prior knowledge (h2c); https://
                # negotiates h2 by ALPN
                http1=False,
                http2=True,
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                limits=httpx.Limits(
                    max_connections=1,
                    max_keepalive_connections=1,
                    keepalive_expiry=IDLE_RECONNECT,
                ),
            )
            # fewer header bytes to encode each request: APNs reads none of these
            for name in ("accept", "accept-encoding"):
                del self._client.headers[name]
            self._client.headers["user-agent"] = "baas-push"
            self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def one(index: int, target: Target, apns_id: str) -> None:
            results[index] = await self._send_one(headers, body, target, apns_id)

        await asyncio.gather(*(one(*request) for request in pending))

    async def _send_one(
        self, headers: dict[str, str], body: bytes, target: Target, apns_id: str
    ) -> Result:
        """POST one push. Sent once more when Apple refuses the provider token as
        expired or invalid (with a new token), and when the request could not be
        written (a connection the server closed while idle: on a new connection)."""
        assert self._client is not None and self._in_flight is not None
        renewed = resent = False
        async with self._in_flight:
            while True:
                token = self._provider_token()
                request_headers = {
                    **headers,
                    "apns-id": apns_id,
                    "authorization": f"bearer {token}",
                }
                try:
                    # httpx's timeouts are per read; siblings' responses on the same
                    # connection keep a silent stream's reads alive, so bound it too.
                    async with asyncio.timeout(self.timeout * 2):
                        response = await self._client.post(
                            f"/3/device/{target.token}",
                            content=body,
                            headers=request_headers,
                        )
                except (httpx.ConnectError, httpx.WriteError) as error:
                    # Nothing of the request reached APNs whole: safe to send again.
                    if not resent:
                        resent = True
                        continue
                    return _network_error(target, error)
                except httpx.TransportError as error:
                    return _network_error(target, error)
                except TimeoutError:
                    return Result(target.delivery_id, "retry", reason="Timeout")
                except Exception as error:  # noqa: BLE001 - a Result, never a raise
                    reason = f"{type(error).__name__}: {error}"
                    return Result(target.delivery_id, "failed", reason=reason)
                status = response.status_code
                reason = _reason(response)
                if status == 403 and reason in PROVIDER_TOKEN_REASONS and not renewed:
                    renewed = True
                    self._renew_provider_token(token)
                    continue
                return _result(target, status, reason, response.headers, apns_id)

    def _provider_token(self) -> str:
        """The JWT for the authorization header, made anew every TOKEN_LIFETIME."""
        now = self._clock()
        if self._jwt is None or not 0 <= now - self._jwt[1] < TOKEN_LIFETIME:
            issued_at = int(now)
            token = jwt.encode(
                {"iss": self.team_id, "iat": issued_at},
                self._key,
                algorithm="ES256",
                headers={"kid": self.key_id, "typ": None},
            )
            self._jwt = (token, issued_at)
        return self._jwt[0]

    def _renew_provider_token(self, refused: str) -> None:
        """Make a new provider token, once for all requests that used `refused`."""
        if self._jwt is not None and self._jwt[0] == refused:
            self._jwt = None

    async def _aclose(self) -> None:
        client, self._client, self._in_flight = self._client, None, None
        if client is not None:
            await client.aclose()


class _Refused(Exception):
    """The message cannot go to APNs at all (reason is Apple-style)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _result(
    target: Target, status: int, reason: str, headers: httpx.Headers, apns_id: str
) -> Result:
    """Map an APNs response to a Result."""
    delivery_id = target.delivery_id
    provider_id = headers.get("apns-id", apns_id)
    if 200 <= status < 300:
        return Result(delivery_id, "sent", provider_id=provider_id)
    reason = reason or f"HTTP {status}"
    if status == 410 or (status == 400 and reason in INVALID_TOKEN_REASONS):
        return Result(delivery_id, "invalid_token", reason, provider_id)
    if status == 429 or status >= 500:
        retry_after = retry_after_seconds(headers.get("retry-after"))
        return Result(delivery_id, "retry", reason, provider_id, retry_after)
    return Result(delivery_id, "failed", reason, provider_id)


def _network_error(target: Target, error: Exception) -> Result:
    """A retry Result for a network error (the exception's type and message)."""
    reason = f"{type(error).__name__}: {error}".removesuffix(": ")
    return Result(target.delivery_id, "retry", reason=reason)


def _reason(response: httpx.Response) -> str:
    """Apple's reason code from an error body ({"reason": ...}), or ""."""
    if not response.content:
        return ""
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        return ""
    return reason if isinstance(reason, str) else ""


def _collapse_id(key: str) -> str:
    """apns-collapse-id: the key itself when it fits (64 bytes of ASCII), else its
    SHA-256 in hex (64 characters): still one id per key."""
    if key.isascii() and len(key) <= COLLAPSE_ID_LIMIT:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _deep_merge(base: dict, override: dict) -> dict:
    """`base` with `override` merged in: dicts recursively, None deletes a key."""
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def from_settings() -> ApnsProvider:
    """An ApnsProvider from the BAAS_APNS_* settings."""
    from django.conf import settings

    names = (
        "BAAS_APNS_KEY_FILE",
        "BAAS_APNS_KEY_ID",
        "BAAS_APNS_TEAM_ID",
        "BAAS_APNS_TOPIC",
    )
    missing = [name for name in names if not getattr(settings, name, "")]
    if missing:
        raise ProviderNotConfigured(f"APNs is not configured: set {', '.join(missing)}")
    endpoint = getattr(settings, "BAAS_APNS_ENDPOINT", "") or DEFAULT_ENDPOINT
    if not endpoint.startswith(("https://", "http://")):
        raise ProviderNotConfigured(
            f"BAAS_APNS_ENDPOINT must be an http:// or https:// URL, not {endpoint!r}"
        )
    path = Path(settings.BAAS_APNS_KEY_FILE)
    try:
        key_pem = path.read_bytes()
    except OSError as error:
        raise ProviderNotConfigured(
            f"BAAS_APNS_KEY_FILE: cannot read {path}: {error.strerror}"
        ) from error
    try:
        return ApnsProvider(
            key_pem=key_pem,
            key_id=settings.BAAS_APNS_KEY_ID,
            team_id=settings.BAAS_APNS_TEAM_ID,
            topic=settings.BAAS_APNS_TOPIC,
            endpoint=endpoint,
        )
    except (ValueError, TypeError) as error:
        raise ProviderNotConfigured(f"BAAS_APNS_KEY_FILE {path}: {error}") from error
