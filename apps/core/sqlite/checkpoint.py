"""WAL checkpoints off the request path (the embedded database).

SQLite copies its write-ahead log back into the database file (a checkpoint, with an
fsync) in the commit that finds the log over `wal_autocheckpoint` pages, and that write
waits for it: 10-30 ms on this machine, a few times a minute at 20 writes/s, which set
the slowest writes and so the slowest realtime events. The background thread of server
processes (baas/lifecycle.py) makes a PASSIVE checkpoint (it never waits for readers or
writers) every second instead. Connections keep SQLite's own checkpoint only as a
ceiling for processes without the thread (baas/settings.py: `wal_autocheckpoint`).
"""

from __future__ import annotations

from django.db import connection


def wanted() -> bool:
    """On the embedded database, in a file (not the test suite's memory database)."""
    return connection.vendor == "sqlite" and not connection.is_in_memory_db()


def run() -> None:
    """One PASSIVE checkpoint, on the calling thread's connection."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
