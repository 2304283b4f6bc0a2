"""Server-sent events: `GET /api/v1/realtime/sse?topics=posts,posts/<id>` (API.md), for
clients that cannot open a WebSocket. The `Authorization` header authenticates, never the
URL; `Last-Event-ID` resumes like `since`. Each event is `id: <token>` + `data: <frame>`;
a comment line every BAAS_REALTIME_HEARTBEAT seconds keeps proxies from closing the
stream and finds dead clients. Errors before the stream starts are plain API errors."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import orjson
from django.conf import settings

from apps.core.exceptions import ApiError, Unauthenticated
from apps.realtime.auth import ANONYMOUS, authenticate
from apps.realtime.connection import (
    Connection,
    _check_subscription,
    _invalid,
    origin_allowed,
    parse_topic,
)
from apps.realtime.events import Subscription
from apps.realtime.hub import get_hub
from apps.records import changelog


class _Stream(Connection):
    def __init__(self, hub, send) -> None:
        super().__init__(hub)
        self._send = send
        self.ended = asyncio.Event()

    async def write(self, data: bytes) -> None:
        await self._send(
            {"type": "http.response.body", "body": data, "more_body": True}
        )

    def send_event(self, data: bytes, sub: Subscription) -> None:
        token = data[data.rfind(b'"token":"') + 9 : -2]
        self.send(b"id: " + token + b"\ndata: " + data + b"\n\n")

    def send_frame(self, data: bytes) -> None:
        self.send(b"data: " + data + b"\n\n")

    async def close_transport(self, code: int, reason: str) -> None:
        self.ended.set()


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


async def _respond_error(send, exc: ApiError, cors: list) -> None:
    body = orjson.dumps(
        {"status": exc.status, "errors": [e.as_dict() for e in exc.errors]}
    )
    headers = [(b"content-type", b"application/json"), *cors]
    if exc.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send(
        {"type": "http.response.start", "status": exc.status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})


def _cors_headers(origin: str | None) -> list:
    if not origin:
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"vary", b"Origin"),
    ]


def _topics(scope) -> list[tuple[str, str | None]]:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    raw = ",".join(query.get("topics", []))
    topics = [t.strip() for t in raw.split(",") if t.strip()]
    if not topics:
        raise _invalid("topics", "Name at least one topic: ?topics=posts,posts/<id>.")
    if len(set(topics)) > settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS:
        raise _invalid(
            "topics",
            f"At most {settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS} topics per stream.",
        )
    return [parse_topic(t) for t in dict.fromkeys(topics)]


async def _prepare(hub, scope):
    """Identity, topics and `since`, checked before anything is streamed."""
    identity, token = ANONYMOUS, None
    header = _header(scope, b"authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        identity = (
            await hub.run_db(authenticate, token.strip())
            if scheme.lower() == "bearer"
            else None
        )
        if identity is None:
            raise Unauthenticated(
                "Invalid or expired access token.", code="invalid_token"
            )
    topics = _topics(scope)
    since_text = _header(scope, b"last-event-id")
    since = changelog.decode_token(since_text) if since_text else None
    checked = []
    for name, record_id in topics:
        collection_id, _ = await hub.run_db(
            _check_subscription, identity.actor, name, None, since
        )
        checked.append((name, record_id, collection_id))
    return identity, token, checked, since


async def sse_app(scope, receive, send) -> None:
    origin = _header(scope, b"origin")
    cors = _cors_headers(origin)
    if not origin_allowed(origin, _header(scope, b"host")):
        await _respond_error(
            send,
            ApiError("This origin may not connect.", code="forbidden", status=403),
            [],
        )
        return
    if scope["method"] not in ("GET", "HEAD"):
        await _respond_error(
            send,
            ApiError("Use GET.", code="method_not_allowed", status=405),
            cors,
        )
        return
    hub = get_hub()
    if hub.stopping:
        await _respond_error(
            send,
            ApiError(
                "The server is shutting down; reconnect.",
                code="unavailable",
                status=503,
                headers={"Retry-After": "1"},
            ),
            cors,
        )
        return
    await hub.start()
    try:
        identity, token, topics, since = await _prepare(hub, scope)
    except ApiError as exc:
        await _respond_error(send, exc, cors)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-store"),
                (b"x-accel-buffering", b"no"),
                *cors,
            ],
        }
    )
    stream = _Stream(hub, send)
    stream.open()
    if token:
        await stream.authenticated(identity, token, announce=False)
    watcher = asyncio.get_running_loop().create_task(_watch(receive, stream))
    try:
        for name, record_id, collection_id in topics:
            topic = name if record_id is None else f"{name}/{record_id}"
            sub = Subscription(
                conn=stream, id=topic, collection_id=collection_id, record_id=record_id
            )
            stream.subscriptions[topic] = sub
            try:
                await hub.join(sub, since)
            except ApiError as exc:
                stream.send_frame(
                    orjson.dumps(
                        {
                            "type": "error",
                            "id": topic,
                            "status": exc.status,
                            "errors": [e.as_dict() for e in exc.errors],
                        }
                    )
                )
        while not stream.ended.is_set():
            try:
                await asyncio.wait_for(
                    stream.ended.wait(), settings.BAAS_REALTIME_HEARTBEAT
                )
            except TimeoutError:
                stream.send(b": ping\n\n")
    finally:
        watcher.cancel()
        stream.gone()
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            pass


async def _watch(receive, stream: _Stream) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.gone()
            stream.ended.set()
            return
