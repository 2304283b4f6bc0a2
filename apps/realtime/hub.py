"""One hub per realtime process: its connections, their subscriptions, and the tail of the
change log that feeds them.

The hub reads the change log in order (below PostgreSQL's horizon, as delta sync does:
apps.records.changelog) from a cursor, whenever a writer wakes it (apps.realtime.bus) and
at least every POLL_SECONDS. Each batch goes through apps.realtime.events on one database
thread; the frames come back to the event loop and into each connection's bounded queue.
A subscription joins between two batches: at the cursor (its ack carries that token), or,
with `since`, after the changes from `since` up to the cursor were replayed to it alone.
Every event is therefore sent once, in log order, with no gap between replay and live.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import orjson
from django.conf import settings
from django.db import OperationalError, close_old_connections

from apps.realtime import bus, presence, protocol
from apps.realtime.auth import authenticate
from apps.realtime.events import Group, Subscription, plan
from apps.records import changelog

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
BATCH = 500
REVALIDATE_SECONDS = 60.0


def _in_db(fn, *args):
    close_old_connections()
    try:
        for attempt in range(50):
            try:
                return fn(*args)
            except OperationalError as exc:
                # SQLite's shared-cache memory databases (the test suite's) lock tables
                # against readers; a file database in WAL mode never does.
                if "is locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.02)
    finally:
        close_old_connections()


def _replay(sub: Subscription, actor, since, until):
    """The frames of the changes of `sub`'s collection after `since` up to `until`."""
    frames: list[bytes] = []
    position = since
    while position < until:
        page = changelog.read(sub.collection_id, position, BATCH)
        rows = [
            (r.txid, r.seq, r.collection_id, r.record_id, r.op)
            for r in page.rows
            if (r.txid, r.seq) <= until
        ]
        group = Group(actor, [sub])
        frames += [frame for _, frame in plan(rows, {sub.collection_id: [group]})]
        if not page.has_more or len(rows) < len(page.rows):
            break
        position = page.next
    return frames


@dataclass(eq=False)
class ChannelSub:
    """A subscription to `channel:<name>` (messages between clients, presence)."""

    conn: object
    id: str
    channel: str
    presence: bool
    user: str | None = None  # who joined (presence), whatever the connection becomes
    active: bool = True


class Hub:
    def __init__(self) -> None:
        self.proc = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: channel name -> its subscriptions on this process
        self.channels: dict[str, set[ChannelSub]] = defaultdict(set)
        #: presence channel -> user id -> this process's subscriptions of that user
        self.present: dict[str, dict[str, int]] = defaultdict(dict)
        self.presence = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.db = ThreadPoolExecutor(1, thread_name_prefix="realtime-db")
        self.cursor: changelog.Position | None = None
        #: collection id -> identity key -> the group of its subscriptions
        self.groups: dict[str, dict[str, Group]] = defaultdict(dict)
        self.connections: set = set()
        self._wake: asyncio.Event | None = None
        self._joins: list[tuple[Subscription, object, asyncio.Future]] = []
        self._tasks: list[asyncio.Task] = []
        self._started: asyncio.Future | None = None
        self._listener = None
        self.stopping = False

    # --- life ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._start()
                self._started.set_result(None)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        bus.local_receiver = self.receive_threadsafe
        self._listener = await _listen(self)
        self.presence = presence.backend(self.proc)
        await self.presence.heartbeat()
        if os.environ.get("BAAS_REALTIME_SERVER"):
            _going_away_on_signals(self)
        self._tasks = [
            self.loop.create_task(self._tail(), name="realtime-tail"),
            self.loop.create_task(self._revalidate(), name="realtime-revalidate"),
            self.loop.create_task(self._heartbeat(), name="realtime-heartbeat"),
        ]

    async def stop(self, code: int = protocol.GOING_AWAY) -> None:
        """Close every connection (`going away`: clients resume elsewhere) and refuse
        new ones: a client reconnecting at once must land on another process."""
        self.stopping = True
        for conn in list(self.connections):
            await conn.close(code, "server shutting down")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.close()
        if self.presence is not None:
            await self.presence.close()
        if bus.local_receiver == self.receive_threadsafe:
            bus.local_receiver = None

    async def run_db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(
            self.db, partial(_in_db, fn, *args)
        )

    # --- messages ----------------------------------------------------------------------
    def receive_threadsafe(self, message: bytes) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.receive, message)

    def receive(self, message: bytes) -> None:
        if message == bus.WAKE:
            self._wake.set()
        elif message[:1] == bus.REVOKE:
            keys = set(orjson.loads(message[1:]))
            for conn in list(self.connections):
                if conn.identity.session_key in keys:
                    conn.revoked()
        elif message[:1] == bus.CHANNEL_FRAME:
            origin, channel, frame = message[1:].split(b"\n", 2)
            if origin.decode() != self.proc:
                self._deliver(channel.decode(), frame, None)

    # --- channels ---------------------------------------------------------------------
    async def channel_join(self, sub: ChannelSub) -> list[str] | None:
        """Add a channel subscription; the members present (presence channels)."""
        self.channels[sub.channel].add(sub)
        user = sub.user
        if not sub.presence:
            return None
        if user is not None:
            counts = self.present[sub.channel]
            counts[user] = counts.get(user, 0) + 1
            if counts[user] == 1 and await self.presence.join(sub.channel, user):
                await self._announce(sub.channel, "join", user, exclude=sub.conn)
        return await self.presence.list(sub.channel)

    def _channel_leave(self, sub: ChannelSub) -> None:
        subs = self.channels.get(sub.channel)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self.channels[sub.channel]
        user = sub.user
        if not sub.presence or user is None:
            return
        counts = self.present.get(sub.channel, {})
        counts[user] = counts.get(user, 1) - 1
        if counts[user] <= 0:
            counts.pop(user, None)
            if not counts:
                self.present.pop(sub.channel, None)
            self.loop.create_task(self._last_left(sub.channel, user))

    async def _last_left(self, channel: str, user: str) -> None:
        try:
            if await self.presence.leave(channel, user):
                await self._announce(channel, "leave", user)
        except Exception:
            log.warning("realtime: presence leave failed", exc_info=True)

    async def _announce(self, channel, action, user, exclude=None) -> None:
        frame = protocol.frame(
            "presence", topic=f"channel:{channel}", action=action, user=user
        )
        await self.broadcast(channel, frame, exclude)

    async def broadcast(self, channel: str, frame: bytes, exclude=None) -> None:
        """A frame for every subscriber of a channel, on every realtime process."""
        self._deliver(channel, frame, exclude)
        if isinstance(self._listener, _RedisListener):
            message = b"\n".join(
                (bus.CHANNEL_FRAME + self.proc.encode(), channel.encode(), frame)
            )
            await self._listener.client.publish(bus.CHANNEL, message)

    def _deliver(self, channel: str, frame: bytes, exclude) -> None:
        for sub in list(self.channels.get(channel, ())):
            if sub.active and sub.conn is not exclude:
                sub.conn.send_frame(frame)

    async def _heartbeat(self) -> None:
        """Keep this process's presence alive; end the presence of dead processes."""
        while True:
            await asyncio.sleep(settings.BAAS_REALTIME_HEARTBEAT)
            try:
                await self.presence.heartbeat()
                for channel, user in await self.presence.reap():
                    await self._announce(channel, "leave", user)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("realtime: presence heartbeat failed", exc_info=True)

    # --- connections and subscriptions -------------------------------------------------
    def add(self, conn) -> None:
        self.connections.add(conn)

    def connections_of(self, key: str) -> int:
        return sum(1 for c in self.connections if c.identity.key == key)

    def remove(self, conn) -> None:
        self.connections.discard(conn)
        for sub in list(conn.subscriptions.values()):
            self.leave(sub)

    async def join(self, sub: Subscription, since=None) -> None:
        """Add a subscription at the next batch boundary; its ack (and, with `since`, the
        replay) is queued on its connection before any live event. Raises the API error
        a bad `since` gets."""
        future = asyncio.get_running_loop().create_future()
        self._joins.append((sub, since, future))
        self._wake.set()
        await future

    def leave(self, sub) -> None:
        if isinstance(sub, ChannelSub):
            self._channel_leave(sub)
            return
        groups = self.groups.get(sub.collection_id)
        group = groups.get(sub.conn.identity.key) if groups else None
        if group is not None and sub in group.subs:
            group.subs.remove(sub)
            if not group.subs:
                del groups[sub.conn.identity.key]
                if not groups:
                    del self.groups[sub.collection_id]

    def _enter(self, sub: Subscription) -> None:
        key = sub.conn.identity.key
        group = self.groups[sub.collection_id].get(key)
        if group is None:
            group = self.groups[sub.collection_id][key] = Group(sub.conn.identity.actor)
        group.actor = sub.conn.identity.actor  # the freshest copy of the account
        group.subs.append(sub)

    def reidentify(self, conn, old_key: str) -> None:
        """A connection authenticated again: its subscriptions move to the new identity
        (between batches: nothing in flight is lost or doubled)."""
        for sub in conn.subscriptions.values():
            if isinstance(sub, ChannelSub):
                continue  # presence keeps the identity it joined with
            groups = self.groups.get(sub.collection_id) or {}
            group = groups.get(old_key)
            if group is not None and sub in group.subs:
                group.subs.remove(sub)
                if not group.subs:
                    del groups[old_key]
            if getattr(sub, "joined", False):
                self._enter(sub)

    # --- the tail ----------------------------------------------------------------------
    async def _tail(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime: reading the change log failed")
                await asyncio.sleep(POLL_SECONDS)

    async def _step(self) -> None:
        joins, self._joins = self._joins, []
        for sub, since, future in joins:
            await self._join_now(sub, since, future)
        while True:
            if not self.groups:  # nobody listens: nothing to read until someone does
                self.cursor = None
                return
            if self.cursor is None:
                self.cursor = await self.run_db(changelog.head)
            groups = {
                cid: [Group(g.actor, list(g.subs)) for g in by_key.values()]
                for cid, by_key in self.groups.items()
            }
            rows, cursor, frames = await self.run_db(_read_batch, self.cursor, groups)
            self.cursor = cursor
            for sub, data in frames:
                if sub.active:
                    sub.conn.send_event(data, sub)
            if len(rows) < BATCH:
                return

    async def _join_now(self, sub: Subscription, since, future) -> None:
        if not sub.active or future.done():
            if not future.done():
                future.cancel()
            return
        try:
            if self.cursor is None:
                self.cursor = await self.run_db(changelog.head)
            frames = []
            if since is not None:
                frames = await self.run_db(
                    _replay, sub, sub.conn.identity.actor, since, self.cursor
                )
        except Exception as exc:
            future.set_exception(exc)
            return
        if not sub.active:
            future.cancel()
            return
        sub.conn.send_frame(
            protocol.frame(
                "subscribed", id=sub.id, token=changelog.encode_token(self.cursor)
            )
        )
        for data in frames:
            sub.conn.send_event(data, sub)
        sub.joined = True
        self._enter(sub)
        future.set_result(None)

    # --- revocation -----------------------------------------------------------------------
    async def _revalidate(self) -> None:
        """Check every signed-in connection's session again now and then: a revocation
        whose message was lost still closes it within REVALIDATE_SECONDS."""
        while True:
            await asyncio.sleep(REVALIDATE_SECONDS)
            soon = time.time() + 5  # expiring ones close with 4001 on their own timer
            tokens = {
                c.token
                for c in self.connections
                if c.token and (c.identity.expires_at or soon + 1) > soon
            }
            try:
                valid = await self.run_db(_still_valid, tokens)
            except Exception:
                log.exception("realtime: revalidating sessions failed")
                continue
            for conn in list(self.connections):
                if conn.token in tokens and conn.token not in valid:
                    conn.revoked()


def _going_away_on_signals(hub: Hub) -> None:
    """SIGTERM/SIGINT: close every connection with `going away` first, then let the
    server (uvicorn, whose handlers these wrap) shut down."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(sig, frame, previous=previous):
            async def stop():
                try:
                    await hub.stop(protocol.GOING_AWAY)
                finally:
                    previous(sig, None)

            hub.loop.call_soon_threadsafe(lambda: hub.loop.create_task(stop()))

        signal.signal(signum, handler)


def _read_batch(cursor, groups):
    rows, next_cursor = changelog.read_all(cursor, BATCH)
    return rows, next_cursor, plan(rows, groups)


def _still_valid(tokens: set[str]) -> set[str]:
    now = time.time()
    valid = set()
    for token in tokens:
        identity = authenticate(token)
        if identity is not None and (identity.expires_at or now + 1) > now:
            valid.add(token)
    return valid


# --- listening for the bus ---------------------------------------------------------------


class _RedisListener:
    def __init__(self, hub: Hub) -> None:
        import redis.asyncio as aioredis

        self.client = aioredis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.hub = hub
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.pubsub.subscribe(bus.CHANNEL)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async for message in self.pubsub.listen():
                    if message["type"] == "message":
                        self.hub.receive(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("realtime: Redis subscription lost; resubscribing")
                self.hub._wake.set()  # anything missed meanwhile is in the log
                await asyncio.sleep(1.0)
                try:
                    await self.pubsub.subscribe(bus.CHANNEL)
                except Exception:
                    pass

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.pubsub.aclose()
        await self.client.aclose()


class _DatagramListener(asyncio.DatagramProtocol):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.path = str(bus.socket_dir() / f"realtime-{os.getpid()}.sock")
        self.transport = None

    async def start(self) -> None:
        bus.socket_dir().mkdir(parents=True, exist_ok=True)
        if os.path.exists(self.path):
            os.unlink(self.path)
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: self, sock=sock
        )

    def datagram_received(self, data: bytes, addr) -> None:
        self.hub.receive(data)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


async def _listen(hub: Hub):
    listener = _RedisListener(hub) if settings.REDIS_URL else _DatagramListener(hub)
    await listener.start()
    return listener


_hub: Hub | None = None


def get_hub() -> Hub:
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub
