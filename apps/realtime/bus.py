"""How the processes that write tell the realtime processes that something happened.

Messages are small: `w` (changes were committed: read the change log) and `r<json list>`
(these device sessions ended: drop their connections). With Redis configured every
realtime process holds one subscription to one pub/sub channel and fans out locally
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


def changes_committed() -> None:
    publish(WAKE)


def wake_on_commit() -> None:
    """After the current transaction commits, wake the realtime processes (once per
    transaction, however many changes it logs)."""
    if connection.in_atomic_block:
        for _, callback, _ in connection.run_on_commit:
            if callback is changes_committed:
                return
    transaction.on_commit(changes_committed)


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
_targets: tuple[float, list[str]] = (0.0, [])


def _send_datagrams(message: bytes) -> None:
    global _sender, _targets
    now = time.monotonic()
    if (
        now - _targets[0] > 1.0
    ):  # realtime processes come and go: look again each second
        _targets = (now, glob.glob(str(socket_dir() / "realtime-*.sock")))
    if not _targets[1]:
        return
    if _sender is None:
        _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        _sender.setblocking(False)
    for path in _targets[1]:
        try:
            _sender.sendto(message, path)
        except (ConnectionRefusedError, FileNotFoundError):
            _forget(path)  # its process is gone
        except (BlockingIOError, OSError):
            pass  # its queue is full: it is awake already, and polls anyway


def _forget(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --- signals -------------------------------------------------------------------------


def connect_signals() -> None:
    from allauth.usersessions.models import UserSession
    from django.contrib.sessions.models import Session
    from django.db.models.signals import post_delete

    from apps.records import changelog

    changelog.on_logged.append(wake_on_commit)

    def ended(sender, instance, **kwargs) -> None:
        key = instance.session_key
        transaction.on_commit(lambda: sessions_ended([key]))

    post_delete.connect(
        ended, sender=Session, weak=False, dispatch_uid="realtime.session_ended"
    )
    post_delete.connect(
        ended, sender=UserSession, weak=False, dispatch_uid="realtime.usersession_ended"
    )
