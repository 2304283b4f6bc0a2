"""An APNs (token-based auth, HTTP/2) stand-in for tests, in its own process.

It speaks HTTP/2 cleartext with prior knowledge (h2c) on its port, as the provider's
http:// endpoint does, and checks each push as Apple does: the path and device token,
the ES256 provider token (kid, iss, signature against the .p8 it is given, age), the
topic, the apns-* headers and the payload; errors carry Apple's {"reason": ...} body.
The same port answers HTTP/1.1 too, for the control API (hypercorn tells the two
apart by the HTTP/2 preface); pushes over HTTP/1.1 are refused.

    python -m tests.push.fakes.apns --port 0 --key-file k.p8 --key-id K --team-id T \
        --topic com.example.app
    -> listening on http://127.0.0.1:<port>

Control API (JSON): GET /_fake/received[?since=n], GET /_fake/stats, POST /_fake/reset,
POST /_fake/unregistered {tokens}, POST /_fake/quota {count, retry_after},
POST /_fake/unavailable {on, retry_after}, POST /_fake/hold {on},
POST /_fake/expire_tokens {count}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PAYLOAD_LIMIT = 4096
VOIP_PAYLOAD_LIMIT = 5120
COLLAPSE_ID_LIMIT = 64
TOKEN_MAX_AGE = 3600
_DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64}")
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
#: apns-push-type -> the suffix Apple expects on the bundle id in apns-topic
PUSH_TYPES = {
    "alert": "",
    "background": "",
    "mdm": "",
    "widgets": ".push-type.widgets",
    "liveactivity": ".push-type.liveactivity",
    "location": ".location-query",
    "voip": ".voip",
    "complication": ".complication",
    "fileprovider": ".pushkit.fileprovider",
    "pushtotalk": ".voip-ptt",
}
PRIORITIES = {"1", "5", "10"}
CHECKED_HEADERS = (
    "authorization",
    "apns-topic",
    "apns-push-type",
    "apns-priority",
    "apns-expiration",
    "apns-collapse-id",
    "apns-id",
)


class Rejected(Exception):
    """A push APNs refuses: the status, Apple's reason and extra response headers."""

    def __init__(self, status: int, reason: str, headers: list | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


@dataclass
class State:
    """Everything the fake remembers (in memory, cleared by reset)."""

    #: accepted pushes: (token, apns-* headers, raw payload, time); parsed on read
    received: list[tuple[str, dict[str, str], bytes, float]] = field(
        default_factory=list
    )
    by_token: Counter = field(default_factory=Counter)
    by_token_max: int = 0
    requests: int = 0
    connections: set = field(default_factory=set)
    provider_tokens: set[str] = field(default_factory=set)
    unregistered: dict[str, int] = field(default_factory=dict)  # token -> ms
    quota: int = 0
    quota_retry_after: Any = 30
    unavailable: bool = False
    unavailable_retry_after: Any = None
    expire_next: int = 0
    expired_tokens: set[str] = field(default_factory=set)
    held: int = 0


class FakeApns:
    """The ASGI app: APNs' /3/device/<token> plus the /_fake/ control API."""

    def __init__(self, key_file: Path, key_id: str, team_id: str, topic: str) -> None:
        private = serialization.load_pem_private_key(key_file.read_bytes(), None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise SystemExit(f"{key_file}: not an EC private key")
        self.public_key = private.public_key()
        self.key_id = key_id
        self.team_id = team_id
        self.topic = topic
        self.state = State()
        #: verified provider tokens: JWT -> (None, iat) or (reason, 0); each JWT's
        #: signature is checked once, as a real server caches it per connection
        self.jwt_cache: dict[str, tuple[str | None, int]] = {}
        self.released = asyncio.Event()
        self.released.set()
        self.started = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            body = await read_body(receive)
            if scope["path"].startswith("/_fake/"):
                status, payload = self.control(scope, body)
                await respond(send, status, json.dumps(payload).encode(), [])
            else:
                await self.push(scope, body, send)

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.released.set()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- APNs -----------------------------------------------------------------------

    async def push(self, scope: dict, body: bytes, send: Any) -> None:
        """Answer one push request as APNs would."""
        state = self.state
        state.requests += 1
        if scope["http_version"] == "2":
            state.connections.add(tuple(scope.get("client") or ()))
        headers = {}
        duplicate = False
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1")
            if name in headers and name in CHECKED_HEADERS:
                duplicate = True
            headers[name] = raw_value.decode("latin-1")
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        try:
            token, record = self.check(scope, headers, body, duplicate)
        except Rejected as error:
            reply: dict[str, Any] = {"reason": error.reason}
            if error.status == 410:
                token = scope["path"].rsplit("/", 1)[-1].lower()
                reply["timestamp"] = state.unregistered.get(
                    token, int(time.time() * 1000)
                )
            extra = [(b"apns-id", apns_id.encode()), *error.headers]
            await respond(send, error.status, json.dumps(reply).encode(), extra)
            return
        state.received.append((token, record, body, time.time()))
        state.by_token[token] += 1
        state.by_token_max = max(state.by_token_max, state.by_token[token])
        if not self.released.is_set():
            state.held += 1
            try:
                await self.released.wait()
            finally:
                state.held -= 1
        await respond(send, 200, b"", [(b"apns-id", apns_id.encode())])

    def check(
        self, scope: dict, headers: dict[str, str], body: bytes, duplicate: bool
    ) -> tuple[str, dict[str, str]]:
        """The device token and apns-* headers of a push APNs accepts, else Rejected."""
        state = self.state
        if scope["http_version"] != "2":
            raise Rejected(505, "HTTP2Required")  # APNs only speaks HTTP/2
        if state.unavailable:
            raise Rejected(503, "ServiceUnavailable", retry_after(state, "unavailable"))
        path = scope["path"]
        if not path.startswith("/3/device/"):
            raise Rejected(404, "BadPath")
        if scope["method"] != "POST":
            raise Rejected(405, "MethodNotAllowed")
        token = path.removeprefix("/3/device/")
        if not token:
            raise Rejected(400, "MissingDeviceToken")
        if duplicate:
            raise Rejected(400, "DuplicateHeaders")
        self.check_provider_token(headers.get("authorization"))
        push_type = headers.get("apns-push-type", "alert")
        topic = headers.get("apns-topic")
        if not topic:
            raise Rejected(400, "MissingTopic")
        if push_type not in PUSH_TYPES:
            raise Rejected(400, "InvalidPushType")
        if topic != self.topic + PUSH_TYPES[push_type]:
            raise Rejected(400, "DeviceTokenNotForTopic")
        if not _DEVICE_TOKEN.fullmatch(token):
            raise Rejected(400, "BadDeviceToken")
        if headers.get("apns-priority", "10") not in PRIORITIES:
            raise Rejected(400, "BadPriority")
        if not headers.get("apns-expiration", "0").isdigit():
            raise Rejected(400, "BadExpirationDate")
        if (
            len(headers.get("apns-collapse-id", "").encode("latin-1"))
            > COLLAPSE_ID_LIMIT
        ):
            raise Rejected(400, "BadCollapseId")
        if "apns-id" in headers and not _UUID.fullmatch(headers["apns-id"]):
            raise Rejected(400, "BadMessageId")
        if not body:
            raise Rejected(400, "PayloadEmpty")
        limit = VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT
        if len(body) > limit:
            raise Rejected(413, "PayloadTooLarge")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        # Apple documents no reason for this one; the fake names it BadPayload.
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            raise Rejected(400, "BadPayload")
        if state.quota > 0:
            state.quota -= 1
            raise Rejected(429, "TooManyRequests", retry_after(state, "quota"))
        if token.lower() in state.unregistered:
            raise Rejected(410, "Unregistered")
        record = {k: v for k, v in headers.items() if k.startswith("apns-")}
        return token, record

    def check_provider_token(self, authorization: str | None) -> None:
        """Raise Rejected unless `authorization` is a valid, fresh provider token."""
        if not authorization:
            raise Rejected(403, "MissingProviderToken")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Rejected(403, "InvalidProviderToken")
        cached = self.jwt_cache.get(token)
        if cached is None:
            if len(self.jwt_cache) > 10_000:
                self.jwt_cache.clear()
            cached = self.jwt_cache[token] = self.verify_provider_token(token)
        reason, issued_at = cached
        if reason:
            raise Rejected(403, reason)
        state = self.state
        state.provider_tokens.add(token)
        if time.time() - issued_at > TOKEN_MAX_AGE or token in state.expired_tokens:
            raise Rejected(403, "ExpiredProviderToken")
        if state.expire_next > 0:
            state.expire_next -= 1
            state.expired_tokens.add(token)
            raise Rejected(403, "ExpiredProviderToken")

    def verify_provider_token(self, token: str) -> tuple[str | None, int]:
        """(None, iat) for a JWT signed by the configured key, else (reason, 0)."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
                return "InvalidProviderToken", 0
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["ES256"],
                options={"verify_iat": False, "verify_exp": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return "InvalidProviderToken", 0
        issued_at = claims.get("iat")
        if claims.get("iss") != self.team_id or type(issued_at) is not int:
            return "InvalidProviderToken", 0
        return None, issued_at

    # --- control API ------------------------------------------------------------------

    def control(self, scope: dict, body: bytes) -> tuple[int, Any]:
        """Answer a /_fake/ request: (status, JSON)."""
        state = self.state
        name = scope["path"].removeprefix("/_fake/")
        data = json.loads(body) if body else {}
        if scope["method"] == "GET" and name == "received":
            query = parse_qs(scope.get("query_string", b"").decode())
            since = int(query.get("since", ["0"])[0])
            return 200, [
                {
                    "token": token,
                    "headers": headers,
                    "payload": json.loads(payload),
                    "at": at,
                }
                for token, headers, payload, at in state.received[since:]
            ]
        if scope["method"] == "GET" and name == "stats":
            return 200, {
                "received": len(state.received),
                "by_token_max": state.by_token_max,
                "connections": len(state.connections),
                "requests": state.requests,
                "provider_tokens": len(state.provider_tokens),
                "held": state.held,
            }
        if scope["method"] != "POST":
            return 404, {"error": f"no such control: {scope['method']} {name}"}
        if name == "reset":
            self.state = State()
            self.released.set()
            self.released = asyncio.Event()
            self.released.set()
        elif name == "unregistered":
            now = int(time.time() * 1000)
            for token in data["tokens"]:
                state.unregistered[token.lower()] = now
        elif name == "quota":
            state.quota = int(data["count"])
            state.quota_retry_after = data.get("retry_after", 30)
        elif name == "unavailable":
            state.unavailable = bool(data.get("on", True))
            state.unavailable_retry_after = data.get("retry_after")
        elif name == "hold":
            if data.get("on", True):
                self.released.clear()
            else:
                self.released.set()
        elif name == "expire_tokens":
            state.expire_next = int(data.get("count", 1))
        else:
            return 404, {"error": f"no such control: {name}"}
        return 200, {"ok": True}


def retry_after(state: State, mode: str) -> list[tuple[bytes, bytes]]:
    """The Retry-After header for quota or unavailable mode, when one is set."""
    value = getattr(state, f"{mode}_retry_after")
    return [] if value is None else [(b"retry-after", str(value).encode())]


async def read_body(receive: Any) -> bytes:
    """The whole request body (APNs payloads are small)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def respond(send: Any, status: int, body: bytes, headers: list) -> None:
    """Send a whole response."""
    if body:
        headers = [*headers, (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    """Serve the fake on the given port; print one ready line."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--team-id", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument(
        "--idle-timeout", type=float, default=3600, help="close idle connections"
    )
    args = parser.parse_args()

    app = FakeApns(args.key_file, args.key_id, args.team_id, args.topic)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    sock.set_inheritable(True)
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.keep_alive_timeout = args.idle_timeout
    config.keep_alive_max_requests = 2**62  # hypercorn's default (1000) sends GOAWAY
    config.h2_max_concurrent_streams = 1000  # what APNs announces
    config.graceful_timeout = 0.5
    config.backlog = 1024
    config.accesslog = None
    print(f"listening on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    asyncio.run(serve(app, config))


@dataclass
class Handle:
    """The running fake, for tests: its URL and its control API."""

    url: str
    key_id: str
    team_id: str
    topic: str
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.http.trust_env = False  # never through a proxy from the environment

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def _post(self, name: str, body: dict | None = None) -> Any:
        response = self.http.post(f"{self.url}/_fake/{name}", json=body or {})
        response.raise_for_status()
        return response.json()

    def received(self, since: int = 0) -> list[dict]:
        """Accepted pushes in order: {token, headers (apns-*), payload, at}."""
        response = self.http.get(f"{self.url}/_fake/received", params={"since": since})
        return response.json()

    def stats(self) -> dict:
        """{received, by_token_max, connections, requests, provider_tokens, held}."""
        return self.http.get(f"{self.url}/_fake/stats").json()

    def reset(self) -> None:
        self._post("reset")

    def unregister(self, *tokens: str) -> None:
        """Pushes to these device tokens get 410 Unregistered."""
        self._post("unregistered", {"tokens": list(tokens)})

    def quota(self, count: int, retry_after: int | str | None = 30) -> None:
        """The next `count` valid pushes get 429 TooManyRequests (with Retry-After)."""
        self._post("quota", {"count": count, "retry_after": retry_after})

    def unavailable(self, on: bool = True, retry_after: int | None = None) -> None:
        """Pushes get 503 ServiceUnavailable until unavailable(False)."""
        self._post("unavailable", {"on": on, "retry_after": retry_after})

    def hold(self, on: bool = True) -> None:
        """Pushes wait (recorded as received on arrival) until hold(False)."""
        self._post("hold", {"on": on})

    def expire_tokens(self, count: int = 1) -> None:
        """The next `count` valid provider tokens seen are ExpiredProviderToken from
        then on, as when Apple finds a token too old."""
        self._post("expire_tokens", {"count": count})


@contextlib.contextmanager
def running(
    *,
    key_file: str | Path,
    key_id: str,
    team_id: str,
    topic: str,
    port: int = 0,
    idle_timeout: float | None = None,
) -> Iterator[Handle]:
    """Start the fake in its own process; yield its Handle; stop it."""
    root = Path(__file__).resolve().parents[3]
    command = [
        sys.executable,
        "-m",
        "tests.push.fakes.apns",
        "--port",
        str(port),
        "--key-file",
        str(key_file),
        "--key-id",
        key_id,
        "--team-id",
        team_id,
        "--topic",
        topic,
    ]
    if idle_timeout is not None:
        command += ["--idle-timeout", str(idle_timeout)]
    process = subprocess.Popen(
        command,
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the APNs fake did not start: {line!r}")
        handle = Handle(line.removeprefix("listening on "), key_id, team_id, topic)
        yield handle
        handle.http.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


if __name__ == "__main__":
    main()
