"""A Web Push service stand-in (RFC 8030 / 8291 / 8292) for tests, in its own process.

It hands out subscriptions as a browser would (its own P-256 key pair and auth
secret), checks each push as a push service does (VAPID JWT and key, aes128gcm,
TTL, size), decrypts the payload with http_ece and keeps it for the tests to read.

    python -m tests.push.fakes.webpush --port 0
    -> listening on http://127.0.0.1:<port>

Control API (JSON): POST /_fake/subscriptions {applicationServerKey?, count?},
GET /_fake/received, GET /_fake/stats, POST /_fake/reset, POST /_fake/expire {id},
POST /_fake/quota {count, retry_after}, POST /_fake/unavailable {on, retry_after},
POST /_fake/hold {on}, POST /_fake/redirect {to}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_BODY = 4096
MAX_EXP_AHEAD = 24 * 3600
_ID = re.compile(r"/push/([A-Za-z0-9_-]{1,64})")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscription:
    id: str
    private_key: ec.EllipticCurvePrivateKey
    p256dh: str
    auth: bytes
    application_server_key: str | None
    expired: bool = False


@dataclass
class State:
    """Everything the fake remembers, in memory."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    #: accepted pushes: (subscription id, plaintext, ttl, urgency, topic, at)
    received: list[tuple] = field(default_factory=list)
    arrived: int = 0
    #: client (address, port) pairs seen: how many connections pushes came on
    clients: set = field(default_factory=set)
    statuses: Counter = field(default_factory=Counter)
    quota: int = 0
    quota_retry_after: str = "30"
    unavailable: bool = False
    unavailable_retry_after: str | None = None
    redirect_to: str | None = None
    released: asyncio.Event | None = None
    waiting: int = 0
    #: verified (token, key) -> claims; identical tokens need not be verified twice
    tokens: dict[tuple[str, str], dict] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


class App:
    """The ASGI application: the push endpoint and the control API."""

    def __init__(self) -> None:
        self.state = State()
        self.origin = ""  # http://127.0.0.1:<port>, set once listening

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body, too_large = await self._body(receive)
        path, method = scope["path"], scope["method"]
        if path.startswith("/push/") and method == "POST":
            status, headers, payload = await self.push(scope, body, too_large)
        elif path.startswith("/_fake/"):
            status, headers, payload = self.control(method, path, body)
        else:
            status, headers, payload = 404, {}, b"not found"
        raw = [(k.encode(), str(v).encode()) for k, v in headers.items()]
        raw.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _body(receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= 64 * 1024:
                chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks), size > 64 * 1024

    # --- the push service -------------------------------------------------------

    async def push(self, scope: dict, body: bytes, too_large: bool):
        state = self.state
        state.arrived += 1
        state.clients.add(tuple(scope.get("client") or ()))
        if state.released is not None and not state.released.is_set():
            state.waiting += 1
            try:
                await state.released.wait()
            finally:
                state.waiting -= 1
        status, headers, text = self._push(scope, body, too_large)
        state.statuses[status] += 1
        return status, headers, text.encode()

    def _push(self, scope: dict, body: bytes, too_large: bool):
        state = self.state
        if state.redirect_to:
            return 307, {"location": state.redirect_to}, "moved"
        if state.quota > 0:
            state.quota -= 1
            return 429, {"retry-after": state.quota_retry_after}, "quota exceeded"
        if state.unavailable:
            headers = {}
            if state.unavailable_retry_after is not None:
                headers["retry-after"] = state.unavailable_retry_after
            return 503, headers, "service unavailable"
        match = _ID.fullmatch(scope["path"])
        sub = state.subscriptions.get(match.group(1)) if match else None
        if sub is None or sub.expired:
            return 410, {}, "push subscription has unsubscribed or expired"
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope["headers"]
        }
        refused = self._check_vapid(headers.get("authorization", ""), sub)
        if refused:
            return refused[0], {}, refused[1]
        if headers.get("content-encoding", "").lower() != "aes128gcm":
            return 415, {}, "Content-Encoding must be aes128gcm"
        ttl = headers.get("ttl", "")
        if not ttl.isdigit():
            return 400, {}, "a TTL header (non-negative integer seconds) is required"
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in ("very-low", "low", "normal", "high"):
            return 400, {}, f"invalid Urgency {urgency!r}"
        topic = headers.get("topic")
        if topic is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", topic):
            return 400, {}, f"invalid Topic {topic!r}"
        if too_large or len(body) > MAX_BODY:
            return 413, {}, f"payload larger than {MAX_BODY} bytes"
        try:
            plaintext = http_ece.decrypt(
                body,
                private_key=sub.private_key,
                auth_secret=sub.auth,
                version="aes128gcm",
            )
        except Exception as exc:  # noqa: BLE001 - any decryption failure is a 400
            return 400, {}, f"payload does not decrypt: {exc!r}"[:300]
        number = next(state.ids)
        # Compact: a benchmark leaves 100,000 of these; GET /_fake/received expands.
        state.received.append(
            (sub.id, plaintext, int(ttl), urgency, topic, time.time())
        )
        return 201, {"location": f"{self.origin}/m/{sub.id}/{number}"}, ""

    def _check_vapid(self, authorization: str, sub: Subscription):
        """None when the VAPID Authorization is good, else (status, reason)."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            return 401, "Authorization must be `vapid t=<jwt>, k=<key>` (RFC 8292)"
        parts = {}
        for item in params.split(","):
            name, _, value = item.strip().partition("=")
            parts[name.strip().lower()] = value.strip()
        token, key = parts.get("t", ""), parts.get("k", "")
        if not token or not key:
            return 401, "VAPID Authorization lacks t= or k="
        if sub.application_server_key and key != sub.application_server_key:
            return 403, (
                "VAPID public key does not match the subscription's "
                "applicationServerKey"
            )
        claims = self.state.tokens.get((token, key))
        if claims is None:
            claims = _verify_jwt(token, key)
            if isinstance(claims, str):
                return 401, claims
            if len(self.state.tokens) > 10_000:
                self.state.tokens.clear()
            self.state.tokens[(token, key)] = claims
        now = time.time()
        if claims.get("aud") != self.origin:
            return 401, f"VAPID aud {claims.get('aud')!r} is not {self.origin!r}"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= now:
            return 401, "VAPID token expired"
        if exp > now + MAX_EXP_AHEAD:
            return 401, "VAPID exp more than 24 hours ahead"
        sub_claim = claims.get("sub")
        if not isinstance(sub_claim, str) or not sub_claim.startswith(
            ("mailto:", "https:")
        ):
            return 401, "VAPID sub must be a mailto: or https: URI"
        return None

    # --- control API --------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes):
        state = self.state
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return 400, {}, b"not JSON"
        name = path[len("/_fake/") :]
        if method == "GET" and name == "received":
            result = [_delivered(*entry) for entry in state.received]
        elif method == "GET" and name == "stats":
            result = {
                "arrived": state.arrived,
                "accepted": len(state.received),
                "statuses": {str(k): v for k, v in state.statuses.items()},
                "waiting": state.waiting,
                "connections": len(state.clients),
                "subscriptions": len(state.subscriptions),
            }
        elif method == "POST" and name == "subscriptions":
            count = data.get("count")
            made = [
                self._subscribe(data.get("applicationServerKey"))
                for _ in range(count or 1)
            ]
            result = made if count is not None else made[0]
        elif method == "POST" and name == "reset":
            if state.released is not None:
                state.released.set()
            self.state = State()
            result = {}
        elif method == "POST" and name == "expire":
            sub = state.subscriptions.get(data.get("id", ""))
            if sub is None:
                return 404, {}, b"no such subscription"
            sub.expired = True
            result = {}
        elif method == "POST" and name == "quota":
            state.quota = int(data.get("count", 1))
            state.quota_retry_after = str(data.get("retry_after", 30))
            result = {}
        elif method == "POST" and name == "unavailable":
            state.unavailable = bool(data.get("on", True))
            retry_after = data.get("retry_after")
            state.unavailable_retry_after = (
                None if retry_after is None else str(retry_after)
            )
            result = {}
        elif method == "POST" and name == "hold":
            if data.get("on", True):
                if state.released is None or state.released.is_set():
                    state.released = asyncio.Event()
            elif state.released is not None:
                state.released.set()
            result = {}
        elif method == "POST" and name == "redirect":
            state.redirect_to = data.get("to") or None
            result = {}
        else:
            return 404, {}, b"unknown control endpoint"
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()

    def _subscribe(self, application_server_key: str | None) -> dict:
        private = ec.generate_private_key(ec.SECP256R1())
        point = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        sub = Subscription(
            id=secrets.token_urlsafe(12),
            private_key=private,
            p256dh=_b64url(point),
            auth=secrets.token_bytes(16),
            application_server_key=application_server_key,
        )
        self.state.subscriptions[sub.id] = sub
        return {
            "endpoint": f"{self.origin}/push/{sub.id}",
            "expirationTime": None,
            "keys": {"p256dh": sub.p256dh, "auth": _b64url(sub.auth)},
        }


def _delivered(sub_id, plaintext, ttl, urgency, topic, at) -> dict:
    """One accepted push as GET /_fake/received shows it (JSON payloads parsed)."""
    text = plaintext.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = text
    return {
        "subscription": sub_id,
        "payload": payload,
        "headers": {"ttl": ttl, "urgency": urgency, "topic": topic},
        "at": at,
    }


def _verify_jwt(token: str, key: str) -> dict | str:
    """The claims of an ES256 JWT signed by the P-256 point `key`, or why not."""
    try:
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), _b64decode(key)
        )
    except ValueError:
        return "VAPID k is not a P-256 public key"
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "ES256":
            return f"VAPID JWT alg is {header.get('alg')!r}, not ES256"
        return jwt.decode(
            token,
            public,
            algorithms=["ES256"],
            options={"require": ["exp", "aud", "sub"], "verify_aud": False},
        )
    except jwt.PyJWTError as exc:
        return f"VAPID JWT does not verify: {exc}"


async def _serve(port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.set_inheritable(True)
    app = App()
    app.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = None
    config.backlog = 1024
    config.keep_alive_timeout = 75
    config.keep_alive_max_requests = 1_000_000
    config.h2_max_concurrent_streams = 1000
    print(f"listening on {app.origin}", flush=True)
    await serve(app, config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port))


# --- the test side: run it as a process ---------------------------------------------


class Handle:
    """A running fake: its URL and helpers for the control API."""

    def __init__(self, url: str) -> None:
        import requests

        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.host = f"127.0.0.1:{self.port}"
        self.http = requests.Session()

    def _post(self, name: str, body: dict | None = None):
        response = self.http.post(f"{self.url}/_fake/{name}", json=body or {})
        response.raise_for_status()
        return response.json()

    def subscribe(
        self, application_server_key: str | None = None, count: int | None = None
    ) -> dict | list[dict]:
        """A browser's PushSubscription JSON (a list of them when `count` is given)."""
        body: dict = {"applicationServerKey": application_server_key}
        if count is not None:
            body["count"] = count
        return self._post("subscriptions", body)

    @staticmethod
    def subscription_id(subscription: dict) -> str:
        """The id the fake gave a subscription (the last path segment)."""
        return subscription["endpoint"].rsplit("/", 1)[1]

    def received(self) -> list[dict]:
        return self.http.get(f"{self.url}/_fake/received").json()

    def stats(self) -> dict:
        return self.http.get(f"{self.url}/_fake/stats").json()

    def reset(self) -> None:
        self._post("reset")

    def expire(self, subscription_id: str) -> None:
        self._post("expire", {"id": subscription_id})

    def quota(self, count: int, retry_after: int | str = 30) -> None:
        """The next `count` pushes get 429 with this Retry-After."""
        self._post("quota", {"count": count, "retry_after": retry_after})

    def unavailable(self, on: bool = True, retry_after: int | None = None) -> None:
        self._post("unavailable", {"on": on, "retry_after": retry_after})

    def hold(self, on: bool = True) -> None:
        """Pushes wait (counted as arrived) until hold(False)."""
        self._post("hold", {"on": on})

    def redirect(self, to: str | None) -> None:
        """Pushes answer 307 to `to` (None: stop)."""
        self._post("redirect", {"to": to})


@contextlib.contextmanager
def running(port: int = 0) -> Iterator[Handle]:
    """Start the fake in its own process; yield its Handle; stop it."""
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.push.fakes.webpush", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    handle = None
    try:
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the Web Push fake did not start: {line!r}")
        handle = Handle(line.removeprefix("listening on "))
        yield handle
    finally:
        if handle is not None:
            handle.http.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


if __name__ == "__main__":
    main()
