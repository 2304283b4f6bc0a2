"""SQLite where writers queue in the kernel instead of polling (the embedded database).

SQLite admits one writer. A second `BEGIN IMMEDIATE` waits in SQLite's busy handler, which
sleeps and retries (1, 2, 5, 10, ... 100 ms), so under concurrent writes the lock is often
free while every waiter sleeps, throughput drops and the unluckiest waits grow to seconds.
Here each write transaction first takes an exclusive `flock` on a file beside the database:
waiters block in the kernel and the next one starts the moment the lock is released, across
threads (one connection, one open file each) and processes. PocketBase gets the same effect
from a write pool of one connection.

Only transactions (`atomic`) queue here; a lone autocommit write still meets SQLite's busy
handler, as before, and a process that dies releases its lock with its files.
"""

from __future__ import annotations

import fcntl
import os

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    _lock_fd: int | None = None
    _lock_held = False

    def _writer_lock_fd(self) -> int | None:
        if self._lock_fd is None and not self.is_in_memory_db():
            path = f"{self.settings_dict['NAME']}-writer.lock"
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._lock_fd

    def _take_writer_lock(self) -> None:
        fd = self._writer_lock_fd()
        if fd is not None and not self._lock_held:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_held = True

    def _release_writer_lock(self) -> None:
        if self._lock_held:
            self._lock_held = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _start_transaction_under_autocommit(self):
        self._take_writer_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
