"""How the processes that write tell the realtime processes that something happened.

Messages are small: `w` (changes were committed: read the change log), `r<json list>`
(these device sessions ended: drop their connections), and, in the embedded profile,
`w<json>`: a transaction's committed change rows with the records' rows, sent when a
realtime process listens to their collection, so that it sends their events without
reading the database (it reads the log, as for `w`, when they do not continue its
cursor: Hub._deliver_sent). With Redis configured every realtime process holds one subscription to one pub/sub channel and fans out locally
(DESIGN.md: not a channel-layer `group_send` per member). Without Redis (the embedded
default, one realtime process) writers send a datagram to the realtime process's Unix
socket in the data directory. A realtime process in the writing process itself (tests,
the single-process fallback) is woken directly. A lost message costs latency, not events:
the hub also reads the change log every POLL_SECONDS.
"""

from __future__ import annotations

import glob
import logging
import os
import socket
import time
from pathlib import Path
from typing import Callable

import orjson
from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)

CHANNEL = "baas:realtime"
WAKE = b"w"
REVOKE = b"r"
CHANNEL_FRAME = b"m"  # m<process>\n<channel>\n<frame>: between realtime processes

#: the hub of this process, when it runs one: called with each message (thread-safe)
local_receiver: Callable[[bytes], None] | None = None


def socket_dir() -> Path:
    return Path(settings.DATA_DIR) / "run"


# --- publishing (any process, sync) ----------------------------------------------------


def publish(message: bytes) -> None:
    """Send a message to every realtime process; never raises."""
    if local_receiver is not None:
        local_receiver(message)
    try:
        if settings.REDIS_URL:
            _redis().publish(CHANNEL, message)
        else:
            _send_datagrams(message)
    except Exception:  # realtime is best effort here: the write itself succeeded
        log.warning("realtime: could not publish", exc_info=True)


#: at most this many change rows, and bytes, travel in one message; more are read from
#: the log (a Unix datagram holds about 200 KB)
MAX_SENT_CHANGES = 8
MAX_SENT_BYTES = 64 * 1024


class _Committed:
    """A transaction's wake-up, registered with its first logged change and published
    once it commits (once per transaction, however many changes it logs)."""

    __slots__ = ("first", "specs", "plain")

    def __init__(self, first: int | None) -> None:
        self.first = first  # the first change's seq (SQLite), None elsewhere
        self.specs: dict = {}
        self.plain = first is None

    def __call__(self) -> None:
        message = None
        if not self.plain and self.specs.keys() & listened():
            try:
                message = _changes_message(self)
            except Exception:  # the wake-up alone still delivers everything
                log.warning("realtime: could not send changes", exc_info=True)
        publish(message or WAKE)


def logged(spec, seq: int | None) -> None:
    """changelog.on_logged: wake the realtime processes after the current transaction
    commits. A change rolled back with a savepoint drops the wake-up it registered; the
    message is built from the log as committed (_changes_message), never from this list."""
    committed = None
    if connection.in_atomic_block:
        for _, callback, _ in connection.run_on_commit:
            if isinstance(callback, _Committed):
                committed = callback
                break
    new = committed is None
    if new:
        committed = _Committed(seq)
    committed.specs[spec.id] = spec
    if seq is None:
        committed.plain = True  # deletes (tombstones) and PostgreSQL: the log is read
    if new:
        transaction.on_commit(committed)


def _changes_message(committed: _Committed) -> bytes | None:
    """`w<json>`: the change rows committed from this transaction's first one on (rows of
    later transactions may follow: they are committed too) and each record's row as the
    database returns it. None where the realtime processes must read the log instead."""
    from apps.collections.dynamic import cache
    from apps.collections.field_types import get_type
    from apps.records import changelog

    rows, _ = changelog.read_all((0, committed.first - 1), MAX_SENT_CHANGES + 1)
    if not rows or len(rows) > MAX_SENT_CHANGES or rows[0][1] != committed.first:
        return None
    records: dict[str, dict] = {}
    for _, _, collection_id, record_id, op in rows:
        spec = committed.specs.get(collection_id)
        if op == "delete" or spec is None:
            return None  # a tombstone, or another transaction's collection
        if any(get_type(f.type).is_many(f) for f in spec.fields):
            return None  # load_rows reads those from their own tables
        raw = changelog.raw_row(spec, cache.model_for(spec), record_id)
        if raw is None:
            return None  # deleted since
        key = cache.stamp_key(spec)
        if not key:
            return None
        entry = records.setdefault(collection_id, {"stamp": key, "rows": {}})
        entry["rows"][record_id] = raw
    changes = [[seq, cid, rid, op] for _, seq, cid, rid, op in rows]
    message = WAKE + orjson.dumps({"changes": changes, "records": records})
    return message if len(message) <= MAX_SENT_BYTES else None


def sessions_ended(keys: list[str]) -> None:
    if keys:
        publish(REVOKE + orjson.dumps(sorted(set(keys))))


_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


_sender: socket.socket | None = None
#: (when last looked, realtime processes' sockets, the collections they listen to)
_targets: tuple[float, list[str], frozenset] = (0.0, [], frozenset())


#: realtime processes come and go, and so do their subscriptions: look again this often
LOOK_SECONDS = 1.0


def _look() -> tuple[float, list[str], frozenset]:
    """The realtime processes' sockets and the collections they listen to (the `.listen`
    files of Hub.advertise), as last seen."""
    global _targets
    now = time.monotonic()
    if now - _targets[0] >= LOOK_SECONDS:
        listening: set[str] = set()
        for path in glob.glob(str(socket_dir() / "realtime-*.listen")):
            try:
                listening.update(orjson.loads(Path(path).read_bytes()))
            except (OSError, orjson.JSONDecodeError):
                pass
        sockets = glob.glob(str(socket_dir() / "realtime-*.sock"))
        _targets = (now, sockets, frozenset(listening))
    return _targets


def listened() -> frozenset:
    """The collections a realtime process on this machine has subscribers to, when the
    embedded profile's datagrams reach it (SQLite, no Redis); empty otherwise."""
    if settings.REDIS_URL or connection.vendor != "sqlite":
        return frozenset()
    return _look()[2]


def _send_datagrams(message: bytes) -> None:
    global _sender
    targets = _look()[1]
    if not targets:
        return
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    for path in targets:
        try:
            _sender.sendto(message, path)
        except (ConnectionRefusedError, FileNotFoundError):
            _forget(path)  # its process is gone
        except (BlockingIOError, OSError):
            pass  # its queue is full: it is awake already, and polls anyway


def _forget(path: str) -> None:
    for gone in (path, path.removesuffix(".sock") + ".listen"):
        try:
            os.unlink(gone)
        except OSError:
            pass


# --- signals -------------------------------------------------------------------------


def connect_signals() -> None:
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session
    from django.db.models.signals import post_delete

    from apps.records import changelog

    changelog.on_logged.append(logged)

    def ended(sender, instance, **kwargs) -> None:
        key = instance.session_key
        transaction.on_commit(lambda: sessions_ended([key]))

    post_delete.connect(
        ended, sender=Session, weak=False, dispatch_uid="realtime.session_ended"
    )
    post_delete.connect(
        ended, sender=UserSession, weak=False, dispatch_uid="realtime.usersession_ended"
    )
