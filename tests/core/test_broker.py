"""The embedded broker (apps/core/broker.py) through kombu, on a SQLite file of its own.

A message is a row: taking it leases the row for the visibility timeout, an ack deletes
it, a requeue or a restore at shutdown makes the same row visible again, and a consumer
that dies without a word (SIGKILL) gets its message back to the others once the lease
runs out, exactly once. Also on the PostgreSQL profile: the transport is the embedded
profile's whatever the suite's own broker is.
"""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kombu import Connection
from kombu.simple import SimpleQueue

from apps.core import broker
from tests.e2e.servers import REPO

QUEUE = "jobs"
VISIBILITY = 1.0  # seconds


@pytest.fixture
def path(tmp_path):
    return tmp_path / "broker.sqlite3"


def connect(path, **options) -> Connection:
    broker.register()
    return Connection(
        f"baas+sqlite:///{path}",
        transport_options={"visibility_timeout": VISIBILITY, **options},
    )


def rows(path) -> list[tuple[int, bool, int, dict]]:
    """(id, taken, deliveries, body) of every message row, in queue order."""
    with sqlite3.connect(path) as db:
        found = db.execute(
            "SELECT id, visible_at > ?, deliveries, payload "
            "FROM baas_broker_message ORDER BY id",
            (time.time(),),
        ).fetchall()
    return [
        (row_id, bool(taken), deliveries, decode(payload))
        for row_id, taken, deliveries, payload in found
    ]


def decode(payload: str):
    """The message body as published (kombu stores it base64-encoded)."""
    return json.loads(base64.b64decode(json.loads(payload)["body"]))


def put(conn: Connection, *bodies: int) -> None:
    queue = conn.SimpleQueue(QUEUE)
    for body in bodies:
        queue.put(body, serializer="json")
    queue.close()


def take(queue: SimpleQueue):
    """One message, without waiting (basic_get: exactly one row taken per call)."""
    return queue.get_nowait()


def body(message):
    return message.decode()


def test_the_baas_prefix_selects_this_transport_and_its_own_tables(path):
    with connect(path) as conn:
        assert isinstance(conn.transport, broker.Transport)
        put(conn, 1)
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert {"baas_broker_queue", "baas_broker_message"} <= tables
    assert "kombu_message" not in tables


def test_the_embedded_profile_uses_it(settings):
    if settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("this profile's broker is Redis")
    assert settings.CELERY_BROKER_URL.startswith("baas+sqlite:///")
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["visibility_timeout"] == settings.BAAS_BROKER_VISIBILITY_TIMEOUT


def test_an_acknowledged_message_is_deleted(path):
    with connect(path) as conn:
        put(conn, 1, 2)
        queue = conn.SimpleQueue(QUEUE)
        message = take(queue)
        assert body(message) == 1
        assert [(taken, n, b) for _, taken, n, b in rows(path)] == [
            (True, 1, 1),
            (False, 0, 2),
        ]
        message.ack()
        assert [b for *_, b in rows(path)] == [2]
        take(queue).ack()
        assert rows(path) == []
        queue.close()


def test_a_consumer_killed_mid_task_loses_nothing_and_duplicates_nothing(path):
    with connect(path) as conn:
        put(conn, 1, 2)
    # A consumer in a process of its own takes the first message and is killed as a
    # crash would kill it: no ack, no restore, no goodbye.
    script = textwrap.dedent(
        f"""
        import time
        from kombu import Connection
        from apps.core import broker
        broker.register()
        conn = Connection("baas+sqlite:///{path}",
                          transport_options={{"visibility_timeout": {VISIBILITY}}})
        queue = conn.SimpleQueue({QUEUE!r})
        print(queue.get_nowait().decode(), flush=True)
        time.sleep(60)
        """
    )
    consumer = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert consumer.stdout.readline().strip() == "1"
        taken_at = time.time()
    finally:
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)

    with connect(path) as conn:
        queue = conn.SimpleQueue(QUEUE)
        # Its message is leased: the others are delivered meanwhile...
        second = take(queue)
        assert body(second) == 2
        second.ack()
        with pytest.raises(SimpleQueue.Empty):
            take(queue)
        # ...and it comes back once the lease has run out, at its place, once.
        time.sleep(max(0.0, taken_at + VISIBILITY - time.time()) + 0.2)
        again = take(queue)
        assert body(again) == 1
        assert again.delivery_info.get("redelivered") is not True  # Celery requeues
        assert [(n, b) for _, _, n, b in rows(path)] == [(2, 1)]
        with pytest.raises(SimpleQueue.Empty):
            take(queue)
        again.ack()
        assert rows(path) == []
        time.sleep(VISIBILITY + 0.2)
        with pytest.raises(SimpleQueue.Empty):
            take(queue)
        queue.close()


def test_requeue_makes_the_same_row_visible_again(path):
    with connect(path) as conn:
        put(conn, 1, 2)
        queue = conn.SimpleQueue(QUEUE)
        message = take(queue)
        (first_id, *_), _ = rows(path)
        message.requeue()  # basic_reject(requeue=True)
        assert [(i, t, n, b) for i, t, n, b in rows(path)][0] == (first_id, False, 1, 1)
        assert len(rows(path)) == 2
        again = take(queue)  # first in the queue still
        assert body(again) == 1
        assert rows(path)[0][:3] == (first_id, True, 2)
        again.reject()  # requeue=False: gone
        assert [b for *_, b in rows(path)] == [2]
        queue.close()


def test_a_graceful_shutdown_gives_back_what_it_held_without_copies(path):
    with connect(path) as conn:
        put(conn, 1, 2, 3)
        before = [i for i, *_ in rows(path)]
        queue = conn.SimpleQueue(QUEUE)
        assert [body(take(queue)), body(take(queue))] == [1, 2]
        assert [t for _, t, _, _ in rows(path)] == [True, True, False]
    # Closing the connection closed its channels: QoS.restore_unacked -> _restore.
    assert [(i, t, b) for i, t, _, b in rows(path)] == [
        (before[0], False, 1),
        (before[1], False, 2),
        (before[2], False, 3),
    ]
    with connect(path) as conn:
        queue = conn.SimpleQueue(QUEUE)
        taken = [take(queue) for _ in range(3)]
        assert [body(m) for m in taken] == [1, 2, 3]
        for message in taken:
            message.ack()
        with pytest.raises(SimpleQueue.Empty):
            take(queue)
        queue.close()
    assert rows(path) == []


def test_a_late_ack_from_a_consumer_whose_lease_ran_out_changes_nothing(path):
    with connect(path) as slow, connect(path) as other:
        put(slow, 1)
        mine = take(slow.SimpleQueue(QUEUE))
        time.sleep(VISIBILITY + 0.2)
        theirs = take(other.SimpleQueue(QUEUE))
        assert body(theirs) == 1
        mine.ack()  # the lease was theirs by then
        assert [(t, n) for _, t, n, _ in rows(path)] == [(True, 2)]
        theirs.ack()
        assert rows(path) == []


def test_many_messages_keep_their_order_and_are_each_delivered_once(path):
    with connect(path) as conn:
        put(conn, *range(200))
        queue = conn.SimpleQueue(QUEUE)
        received = []
        while True:
            try:
                message = queue.get(timeout=0.5)  # basic_consume + drain_events
            except SimpleQueue.Empty:
                break
            received.append(body(message))
            message.ack()
        queue.close()
    assert received == list(range(200))
    assert rows(path) == []


def test_competing_consumers_with_acks_from_other_threads(path):
    with connect(path) as conn:
        put(conn, *range(100))
    seen: list[int] = []
    lock = threading.Lock()

    def consume() -> None:
        with connect(path) as conn, ThreadPoolExecutor(2) as acks:
            queue = conn.SimpleQueue(QUEUE)
            while True:
                try:
                    message = take(queue)
                except SimpleQueue.Empty:
                    break
                with lock:
                    seen.append(body(message))
                acks.submit(message.ack).result()  # as a thread pool's task would
            queue.close()

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for thread in consumers:
        thread.start()
    for thread in consumers:
        thread.join(timeout=60)
    assert sorted(seen) == list(range(100))
    assert rows(path) == []


def test_size_and_purge_count_waiting_messages_only(path):
    with connect(path) as conn:
        put(conn, 1, 2, 3)
        queue = conn.SimpleQueue(QUEUE)
        held = take(queue)
        assert queue.qsize() == 2
        assert queue.clear() == 2  # the held one is a worker's
        assert [b for *_, b in rows(path)] == [1]
        held.ack()
        assert rows(path) == []
        queue.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_pending_messages_of_kombus_own_transport_move_over_once(path):
    """A data directory from before: kombu's `sqla+` tables, one message acknowledged
    (kept, invisible, as kombu does) and two pending."""
    with Connection(f"sqla+sqlite:///{path}") as old:
        queue = old.SimpleQueue(QUEUE)
        for n in (1, 2, 3):
            queue.put(n, serializer="json")
        take(queue).ack()
        queue.close()
    with sqlite3.connect(path) as db:
        assert db.execute(
            "SELECT visible, count(*) FROM kombu_message GROUP BY visible"
        ).fetchall() == [(0, 1), (1, 2)]

    with connect(path) as conn:
        queue = conn.SimpleQueue(QUEUE)
        assert [b for *_, b in rows(path)] == [2, 3]
        taken = [take(queue), take(queue)]
        assert [body(m) for m in taken] == [2, 3]
        for message in taken:
            message.ack()
        queue.close()
    with connect(path) as conn:  # a later start moves nothing again
        put(conn)
    assert rows(path) == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT visible FROM kombu_message").fetchall() == [(0,)]
