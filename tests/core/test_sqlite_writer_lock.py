"""SQLite write transactions queue for a lock file (apps/core/sqlite) instead of polling.

Each test opens its own connections to a database file, as the server's threads and
processes do; the lock is held from BEGIN to COMMIT or ROLLBACK and given up on close.
"""

from __future__ import annotations

import fcntl
import os
import threading

import pytest
from django.db import connections, transaction

from apps.core.sqlite.base import DatabaseWrapper


def _settings(path) -> dict:
    return {
        "ENGINE": "apps.core.sqlite",
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {},
    }


@pytest.fixture
def database(tmp_path, django_db_blocker):
    """A connection factory on one database file (a table `t`), registered per thread.
    These connections are the test's own, outside pytest-django's test database."""
    django_db_blocker.unblock()
    path = tmp_path / "data.sqlite3"
    made = []

    def connect(alias: str) -> DatabaseWrapper:
        wrapper = DatabaseWrapper(_settings(path), alias=alias)
        connections[alias] = wrapper
        made.append(wrapper)
        return wrapper

    with connect("lock-setup").cursor() as cursor:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("CREATE TABLE t (n integer)")
    yield connect, path
    for wrapper in made:  # those of other threads were closed there
        if wrapper._thread_ident == threading.get_ident():
            wrapper.close()
            del connections[wrapper.alias]
    django_db_blocker.restore()


def _held_elsewhere(path) -> bool:
    """Whether another open file (thread, process) holds the writer lock now."""
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def test_a_write_transaction_holds_the_lock_until_commit(database):
    connect, path = database
    connect("a")
    with transaction.atomic(using="a"):
        connections["a"].cursor().execute("INSERT INTO t VALUES (1)")
        assert _held_elsewhere(path)
    assert not _held_elsewhere(path)


def test_a_rolled_back_transaction_gives_the_lock_up(database):
    connect, path = database
    connect("a")
    with pytest.raises(ZeroDivisionError), transaction.atomic(using="a"):
        connections["a"].cursor().execute("INSERT INTO t VALUES (1)")
        1 / 0  # noqa: B018
    assert not _held_elsewhere(path)
    with connections["a"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM t")
        assert cursor.fetchone() == (0,)


def test_closing_the_connection_inside_a_transaction_gives_the_lock_up(database):
    connect, path = database
    connect("a")
    with transaction.atomic(using="a"):
        connections["a"].cursor().execute("INSERT INTO t VALUES (1)")
        connections["a"].close()
        assert not _held_elsewhere(path)


def test_a_second_writer_waits_for_the_first_to_commit(database):
    """The second BEGIN waits on the lock (not SQLite's busy handler) and then runs."""
    connect, path = database
    events: list[str] = []
    first_inside, let_first_commit = threading.Event(), threading.Event()

    def first():
        connect("first")
        with transaction.atomic(using="first"):
            connections["first"].cursor().execute("INSERT INTO t VALUES (1)")
            first_inside.set()
            let_first_commit.wait(10)
            events.append("first commits")
        connections["first"].close()

    def second():
        first_inside.wait(10)
        connect("second")
        with transaction.atomic(using="second"):
            events.append("second begins")
            connections["second"].cursor().execute("INSERT INTO t VALUES (2)")
        connections["second"].close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_inside.wait(10)
    # The second thread is blocked on the lock file, not inside a transaction.
    threads[1].join(0.3)
    assert threads[1].is_alive() and events == []
    let_first_commit.set()
    for thread in threads:
        thread.join(10)
    assert events == ["first commits", "second begins"]
    assert not _held_elsewhere(path)


def test_another_process_holding_the_lock_makes_a_writer_wait(database):
    """flock locks between open files: a holder in another process blocks the same way."""
    connect, path = database
    fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = threading.Event()

    def writer():
        connect("w")
        with transaction.atomic(using="w"):
            connections["w"].cursor().execute("INSERT INTO t VALUES (1)")
        connections["w"].close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not done.wait(0.3)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    assert done.wait(10)
    thread.join()


def test_an_in_memory_database_has_no_lock_file(tmp_path):
    wrapper = DatabaseWrapper({**_settings(":memory:"), "NAME": ":memory:"}, alias="m")
    assert wrapper._writer_lock_fd() is None
