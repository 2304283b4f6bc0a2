"""WAL checkpoints off the request path (the embedded database).

SQLite copies its write-ahead log back into the database file (a checkpoint, with an
fsync) in the commit that finds the log over `wal_autocheckpoint` pages, and that write
waits for it: 10-30 ms on this machine, a few times a minute at 20 writes/s, which set
the slowest writes and so the slowest realtime events. Server processes run this thread
instead: a PASSIVE checkpoint (it never waits for readers or writers) every second.
Connections keep SQLite's own checkpoint only as a ceiling for processes without the
thread (baas/settings.py: `wal_autocheckpoint`).
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

INTERVAL = 1.0
_started = False


def start() -> None:
    """In a server process on the embedded database: checkpoint in the background."""
    global _started
    from django.db import connection

    if _started or connection.vendor != "sqlite" or connection.is_in_memory_db():
        return
    _started = True
    threading.Thread(target=_run, name="sqlite-checkpoint", daemon=True).start()


def _run() -> None:
    from django.db import connection  # this thread's own

    while True:
        time.sleep(INTERVAL)
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            log.debug("checkpoint failed", exc_info=True)
            connection.close()
