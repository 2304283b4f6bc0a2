"""One client connection (WebSocket or SSE): its identity, subscriptions, limits, and a
bounded send queue for when its transport pushes back (a slow client is closed, never
waited for).
The frames of API.md ("Realtime") are handled here; the transports only move bytes."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from urllib.parse import urlsplit

import orjson
from django.conf import settings

from apps.collections.access import Access
from apps.collections.services import get_spec
from apps.core.exceptions import ApiError, Forbidden, Unauthenticated
from apps.realtime import channels, protocol
from apps.realtime.auth import ANONYMOUS, Identity, authenticate
from apps.realtime.events import Subscription, prepare_events, prepare_filter
from apps.realtime.hub import ChannelSub, Hub
from apps.records import changelog
from apps.rules.parser import RuleSyntaxError

log = logging.getLogger(__name__)

_SUB_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHANNEL = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Browsers send Origin with a WebSocket handshake: the page's origin must be ours
    or one of BAAS_CORS_ORIGINS. Other clients send none."""
    if not origin:
        return True
    if settings.CORS_ALLOW_ALL_ORIGINS or origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    if any(re.match(p, origin) for p in settings.CORS_ALLOWED_ORIGIN_REGEXES):
        return True
    return bool(host) and urlsplit(origin).netloc == host


class Connection:
    """Transport-independent: subclasses write frames and close."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.identity: Identity = ANONYMOUS
        self.token: str | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self._overflowed = False
        self._queue: deque[bytes] = deque()
        self._queue_limit = settings.BAAS_REALTIME_SEND_QUEUE
        self._writer: asyncio.Task | None = None  # finishing a write the transport held
        self._expiry: asyncio.TimerHandle | None = None
        self._allowance = float(settings.BAAS_REALTIME_FRAME_BURST)
        self._allowance_at = time.monotonic()
        self._may_publish: dict[str, tuple[bool, float]] = {}

    # --- transport hooks -------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    def write_now(self, data: bytes) -> bool:
        """Write without waiting, if the transport can (optional)."""
        return False

    async def close_transport(self, code: int, reason: str) -> None:
        raise NotImplementedError

    # --- sending ---------------------------------------------------------------------
    # A frame is written at once, on the caller's turn of the event loop (no task switch
    # per frame: a fan-out to 1000 subscribers is 1000 plain calls; under uvicorn straight
    # to the socket, consumers._WebSocket.write_now). Only when the
    # transport pushes back (the client reads slowly) does a frame wait, and the ones
    # after it queue behind it, up to BAAS_REALTIME_SEND_QUEUE; then the client is closed.
    def open(self) -> None:
        self.hub.add(self)

    def send(self, data: bytes) -> None:
        if self.closed or self._overflowed:
            return
        if self._writer is not None:  # a write is waiting for the transport
            if len(self._queue) >= self._queue_limit:
                self._overflowed = True  # one close, however many frames follow
                asyncio.get_running_loop().create_task(
                    self.close(protocol.SLOW_CONSUMER, "send queue full")
                )
                return
            self._queue.append(data)
            return
        if self.write_now(data):
            return
        try:
            waiting = _start(self.write(data))
        except Exception:  # the peer went away
            self._write_failed()
            return
        if waiting is not None:
            self._writer = asyncio.get_running_loop().create_task(self._drain(waiting))

    def send_frame(self, data: bytes) -> None:
        """A frame that is not an event (acks, errors); SSE frames it differently."""
        self.send(data)

    def send_event(self, data: bytes, sub: Subscription) -> None:
        self.send(data)

    async def _drain(self, waiting) -> None:
        try:
            await waiting
            while self._queue and not self.closed:
                await self.write(self._queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            self._write_failed()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None

    def _write_failed(self) -> None:
        log.debug("realtime: write failed", exc_info=True)
        asyncio.get_running_loop().create_task(self.close(protocol.NORMAL, ""))

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self._cleanup()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
            self._writer = None
        try:
            if code != protocol.SLOW_CONSUMER:  # say why first (an error frame, say)
                async with asyncio.timeout(1.0):
                    while self._queue:
                        await self.write(self._queue.popleft())
            await self.close_transport(code, reason)
        except Exception:
            log.debug("realtime: close failed", exc_info=True)

    def gone(self) -> None:
        """The transport closed under us."""
        if not self.closed:
            self.closed = True
            self._cleanup()
            if self._writer is not None:
                self._writer.cancel()

    def _cleanup(self) -> None:
        for sub in self.subscriptions.values():
            sub.active = False
        self.hub.remove(self)
        if self._expiry is not None:
            self._expiry.cancel()

    def revoked(self) -> None:
        asyncio.get_running_loop().create_task(
            self.close(protocol.AUTH_REVOKED, "session ended")
        )

    # --- receiving -------------------------------------------------------------------
    def _rate_ok(self) -> bool:
        now = time.monotonic()
        rate = settings.BAAS_REALTIME_FRAME_RATE
        self._allowance = min(
            float(settings.BAAS_REALTIME_FRAME_BURST),
            self._allowance + (now - self._allowance_at) * rate,
        )
        self._allowance_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    async def receive(self, text: str | bytes) -> None:
        if self.closed:
            return
        if not self._rate_ok():
            await self.close(protocol.RATE_LIMITED, "too many frames")
            return
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send_frame(
                protocol.error(400, "invalid_frame", "A frame is one JSON object.")
            )
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.send_frame(
                protocol.error(
                    400, "invalid_frame", "A frame is a JSON object with a type."
                )
            )
            return
        kind = message["type"]
        request_id = message.get("id") if isinstance(message.get("id"), str) else None
        handler = getattr(self, f"on_{kind}", None) if kind in FRAMES else None
        if handler is None:
            self.send_frame(
                protocol.error(
                    400,
                    "unknown_frame",
                    f"Unknown frame type {kind!r}.",
                    request_id=request_id,
                    param="type",
                )
            )
            return
        try:
            await handler(message)
        except ApiError as exc:
            self.send_frame(_error_frame(exc, request_id))

    async def on_ping(self, message: dict) -> None:
        self.send_frame(protocol.frame("pong"))

    async def on_auth(self, message: dict) -> None:
        token = message.get("token")
        identity = await self.hub.run_db(authenticate, token) if token else None
        if identity is None:
            self.send_frame(
                protocol.error(
                    401,
                    "invalid_token",
                    "The token is invalid or expired.",
                    param="token",
                )
            )
            await self.close(protocol.AUTH_EXPIRED, "invalid token")
            return
        await self.authenticated(identity, token)

    async def authenticated(
        self, identity: Identity, token: str, *, announce: bool = True
    ) -> None:
        if identity.key != self.identity.key:
            limit = settings.BAAS_REALTIME_MAX_CONNECTIONS_PER_USER
            if identity.user_id and self.hub.connections_of(identity.key) >= limit:
                self.send_frame(
                    protocol.error(
                        429,
                        "too_many_connections",
                        f"At most {limit} realtime connections per user.",
                    )
                )
                await self.close(protocol.RATE_LIMITED, "too many connections")
                return
        old_key = self.identity.key
        self.identity, self.token = identity, token
        if old_key != identity.key:
            self.hub.reidentify(self, old_key)
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if identity.expires_at is not None:
            delay = max(0.0, identity.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expired)
        if not announce:
            return
        self.send_frame(
            protocol.frame(
                "authenticated",
                user=identity.user_id,
                expires=int(identity.expires_at) if identity.expires_at else None,
            )
        )

    def _expired(self) -> None:
        asyncio.get_running_loop().create_task(
            self.close(protocol.AUTH_EXPIRED, "access token expired")
        )

    async def on_subscribe(self, message: dict) -> None:
        sub_id = message.get("id")
        if not isinstance(sub_id, str) or not _SUB_ID.fullmatch(sub_id):
            raise _invalid(
                "id", "A subscription needs an id of 1-64 letters, digits, _.:-"
            )
        if sub_id in self.subscriptions:
            raise _invalid(
                "id", f"Subscription {sub_id!r} exists already.", 409, "conflict"
            )
        if len(self.subscriptions) >= settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS:
            raise _invalid(
                "topic",
                f"At most {settings.BAAS_REALTIME_MAX_SUBSCRIPTIONS} subscriptions per "
                "connection.",
                429,
                "too_many_subscriptions",
            )
        topic = message.get("topic")
        if isinstance(topic, str) and topic.startswith(CHANNEL_PREFIX):
            await self._subscribe_channel(sub_id, channel_name(topic))
            return
        name, record_id = parse_topic(topic)
        text = message.get("filter")
        if text is not None and (not isinstance(text, str) or len(text) > 4096):
            raise _invalid("filter", "A filter is an expression (text).")
        since = message.get("since")
        position = None
        if since is not None:
            position = changelog.decode_token(since if isinstance(since, str) else "")
        collection_id, needs_query = await self.hub.run_db(
            _check_subscription, self.identity.actor, name, text or None, position
        )
        sub = Subscription(
            conn=self,
            id=sub_id,
            collection_id=collection_id,
            record_id=record_id or None,
            filter=text or None,
            filter_needs_query=needs_query,
        )
        self.subscriptions[sub_id] = sub
        try:
            await self.hub.join(sub, position)
        except BaseException:
            sub.active = False
            self.subscriptions.pop(sub_id, None)
            raise

    async def _subscribe_channel(self, sub_id: str, name: str) -> None:
        presence = await self.hub.run_db(
            _check_channel, self.identity.actor, name, "subscribe"
        )
        sub = ChannelSub(
            conn=self,
            id=sub_id,
            channel=name,
            presence=presence,
            user=self.identity.user_id,
        )
        self.subscriptions[sub_id] = sub
        members = await self.hub.channel_join(sub)
        ack: dict = {"id": sub_id}
        if members is not None:
            ack["members"] = members
        self.send_frame(protocol.frame("subscribed", **ack))

    async def on_publish(self, message: dict) -> None:
        topic = message.get("topic")
        if not isinstance(topic, str) or not topic.startswith(CHANNEL_PREFIX):
            raise _invalid("topic", "Publish to a channel: channel:<name>.")
        name = channel_name(topic)
        if "data" not in message:
            raise _invalid("data", "A publish frame carries data.")
        now = time.monotonic()
        cached = self._may_publish.get(name)
        if cached is None or cached[1] < now:
            await self.hub.run_db(_check_channel, self.identity.actor, name, "publish")
            self._may_publish[name] = (True, now + PUBLISH_CHECK_SECONDS)
        frame = orjson.dumps(
            {
                "type": "message",
                "topic": topic,
                "data": message["data"],
                "from": self.identity.user_id,
            }
        )
        await self.hub.broadcast(name, frame, exclude=self)
        if isinstance(message.get("id"), str):
            self.send_frame(protocol.frame("published", id=message["id"]))

    async def on_unsubscribe(self, message: dict) -> None:
        sub = (
            self.subscriptions.pop(message.get("id"), None)
            if isinstance(message.get("id"), str)
            else None
        )
        if sub is None:
            raise ApiError(
                "No such subscription.", code="not_found", status=404, param="id"
            )
        sub.active = False
        self.hub.leave(sub)
        self.send_frame(protocol.frame("unsubscribed", id=sub.id))


FRAMES = frozenset({"ping", "auth", "subscribe", "unsubscribe", "publish"})
CHANNEL_PREFIX = "channel:"
PUBLISH_CHECK_SECONDS = 2.0  # how long a publish permission is trusted


def channel_name(topic: str) -> str:
    name = topic[len(CHANNEL_PREFIX) :]
    if not _CHANNEL.fullmatch(name):
        raise _invalid("topic", "A channel name is 1-100 letters, digits or _.:-")
    return name


def _check_channel(actor, name: str, action: str) -> bool:
    """Whether the channel tracks presence, once `actor` may `action` on it; the API's
    errors otherwise (404 when no configuration matches)."""
    config = channels.match(name)
    if config is None:
        raise ApiError(
            "No channel matches this name.",
            code="channel_not_found",
            status=404,
            param="topic",
        )
    if not channels.allowed(config, actor, action, name):
        if actor is None:
            raise Unauthenticated("Authentication required.")
        raise Forbidden(f"You may not {action} on this channel.", code="forbidden")
    return config.presence


def parse_topic(topic) -> tuple[str, str | None]:
    """`posts` or `posts/<record id>` as (collection name, record id or None)."""
    if not isinstance(topic, str) or not topic or len(topic) > 200:
        raise _invalid(
            "topic", "A topic is a collection name or collection/<record id>."
        )
    name, _, record_id = topic.partition("/")
    if record_id and not _RECORD_ID.fullmatch(record_id):
        raise _invalid("topic", "Not a record id.")
    return name, record_id or None


def _check_subscription(
    actor, name: str, text: str | None, since=None
) -> tuple[str, bool]:
    """The collection's id, once the caller may view some of it; and whether the filter
    needs a query per batch. Raises the API's errors (404, 401/403, 400, and 410 for a
    `since` older than the change log keeps)."""
    spec = get_spec(name)
    Access(actor, spec).require("view")
    prepare_events(spec)
    if since is not None:
        changelog.read(spec.id, since, 1)
    needs_query = False
    if text:
        try:
            needs_query = prepare_filter(actor, spec, text)
        except RuleSyntaxError as exc:
            raise _invalid(
                "filter", f"Invalid filter: {exc}", 400, "invalid_filter"
            ) from None
    return spec.id, needs_query


def _invalid(
    param: str, message: str, status: int = 400, code: str = "invalid"
) -> ApiError:
    return ApiError(message, code=code, status=status, param=param)


def _error_frame(exc: ApiError, request_id: str | None) -> bytes:
    frame: dict = {"type": "error"}
    if request_id is not None:
        frame["id"] = request_id
    frame.update({"status": exc.status, "errors": [e.as_dict() for e in exc.errors]})
    return orjson.dumps(frame)


def _start(coro):
    """Run a write coroutine up to its first wait, here and now. None when it finished
    without waiting (a transport with room: the usual case); otherwise an awaitable that
    finishes it (Python 3.12's eager tasks do the same)."""
    try:
        waited = coro.send(None)
    except StopIteration:
        return None
    return _finish(coro, waited)


async def _finish(coro, waited):
    while True:
        try:
            if waited is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:  # the future the coroutine waits for; hand it on as a task does
                waited._asyncio_future_blocking = False
                await waited
        except BaseException as exc:
            try:
                waited = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waited = coro.send(None)
        except StopIteration:
            return
