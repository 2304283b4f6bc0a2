"""The embedded profile's Celery broker: a table in `<data dir>/broker.sqlite3`, with
real acknowledgement.

kombu's own SQLAlchemy transport marks a message invisible when a worker takes it and
acknowledges only in the worker's memory: a worker killed in the middle of a task loses
that message for good (so `acks_late` protects nothing), acknowledged messages are
never deleted (the file grows forever) and a graceful shutdown re-publishes what it held
as new rows beside the old ones. This transport keeps kombu's interface and fixes the
three:

- taking a message leases its row until `now + visibility_timeout` (one IMMEDIATE
  transaction on SQLite, so two workers never take the same row); a row whose lease
  ran out (its worker died) is taken again, at its original place in the queue;
- `ack` deletes the row; `reject(requeue=True)` and the restore at shutdown make the
  same row visible again (never a copy); `reject(requeue=False)` deletes it;
- a lease is the pair (row id, delivery count): an ack or restore from a worker whose
  lease ran out and whose message another worker took since changes nothing.

Delivery is at least once: a task that outlives the visibility timeout, or whose ack was
lost with its worker, runs again, so tasks must be idempotent (docs/operations.md).

Also: a worker whose prefetch is full polls again as soon as it acknowledges a message,
not a polling interval later (kombu's loop ran at most one short task a second).

Selected by the URL prefix `baas+`: `baas+sqlite:////path/broker.sqlite3` (`register()`
adds the alias to kombu's table; baas/settings.py adds the same entry without importing
this module, which loads SQLAlchemy). Transport options: `visibility_timeout` (seconds,
BAAS_BROKER_VISIBILITY_TIMEOUT), `queue_tablename`, `message_tablename`,
`polling_interval`, `busy_timeout` (seconds a writer waits for the file's lock).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from json import dumps, loads
from queue import Empty

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sqla
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

logger = logging.getLogger(__name__)

ALIAS = "baas"
QUEUE_TABLE = "baas_broker_queue"
MESSAGE_TABLE = "baas_broker_message"
# kombu's SQLAlchemy transport's tables (the broker of earlier versions).
LEGACY_QUEUE_TABLE = "kombu_queue"
LEGACY_MESSAGE_TABLE = "kombu_message"
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
DEFAULT_BUSY_TIMEOUT = 30.0


def register() -> None:
    """Make `baas+<SQLAlchemy URL>` broker URLs select this transport."""
    TRANSPORT_ALIASES[ALIAS] = f"{__name__}:Transport"


def tables(queue_name: str, message_name: str) -> tuple[Table, Table]:
    """The queue and message tables (a metadata of their own: kombu's model classes
    share one registry, first table names win, and their index names collide)."""
    metadata = MetaData()
    queue = Table(
        queue_name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(200), nullable=False, unique=True),
        sqlite_autoincrement=True,
    )
    message = Table(
        message_name,
        metadata,
        # AUTOINCREMENT: ids grow and are never reused, so they are also FIFO order
        # and a lease (id, deliveries) never names another message.
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("queue_id", Integer, ForeignKey(f"{queue_name}.id"), nullable=False),
        # Unix time from which the row may be delivered: 0 when published or given
        # back, the end of the lease while a worker holds it.
        Column("visible_at", Float, nullable=False, default=0.0),
        Column("deliveries", Integer, nullable=False, default=0),
        Column("sent_at", Float, nullable=False),
        Column("payload", Text, nullable=False),
        sqlite_autoincrement=True,
    )
    Index(f"{message_name}_queue_id", message.c.queue_id, message.c.id)
    return queue, message


# --- engines: one per process and URL ------------------------------------------------

_engines: dict[tuple, object] = {}
_engines_lock = threading.Lock()


def _new_pools_after_fork() -> None:
    # A forked child (a prefork pool process) must not use its parent's SQLite
    # connections: each engine gets an empty pool and opens its own on first use.
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_new_pools_after_fork)


def _sqlite_setup(engine, busy_timeout: float) -> None:
    """Every transaction takes the write lock at BEGIN (SQLite's IMMEDIATE): a
    transaction that read and then wants to write can otherwise fail at once with
    SQLITE_BUSY instead of waiting. WAL: a publish does not wait for readers."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # BEGIN is ours (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _move_legacy_messages(connection, queue: Table, message: Table) -> int:
    """Messages still waiting in kombu's own tables (an earlier version's broker) move
    here, once: pending ones only. kombu's taken rows look exactly like acknowledged
    ones (both `visible = 0`), so they stay where they are, never delivered again."""
    names = {
        row[0]
        for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    if not {LEGACY_QUEUE_TABLE, LEGACY_MESSAGE_TABLE} <= names:
        return 0
    pending = connection.exec_driver_sql(
        f"SELECT q.name, m.payload FROM {LEGACY_MESSAGE_TABLE} m "
        f"JOIN {LEGACY_QUEUE_TABLE} q ON q.id = m.queue_id "
        "WHERE m.visible = 1 ORDER BY m.id"
    ).fetchall()
    if not pending:
        return 0
    now = time.time()
    for name, payload in pending:
        queue_id = _queue_id_in(connection, queue, name)
        connection.execute(
            insert(message).values(
                queue_id=queue_id, visible_at=0.0, sent_at=now, payload=payload
            )
        )
    connection.exec_driver_sql(f"DELETE FROM {LEGACY_MESSAGE_TABLE} WHERE visible = 1")
    logger.warning(
        "broker: moved %d pending message(s) from %s to %s",
        len(pending),
        LEGACY_MESSAGE_TABLE,
        message.name,
    )
    return len(pending)


def _queue_id_in(connection, queue: Table, name: str) -> int:
    found = connection.execute(select(queue.c.id).where(queue.c.name == name)).scalar()
    if found is None:
        found = connection.execute(
            insert(queue).values(name=name)
        ).inserted_primary_key[0]
    return found


def engine_for(url: str, queue: Table, message: Table, busy_timeout: float):
    """This process's engine for `url`, its tables created (and kombu's pending
    messages moved over) by the first use."""
    key = (url, queue.name, message.name)
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            sqlite = url.startswith("sqlite")
            engine = create_engine(url, pool_pre_ping=not sqlite)
            if sqlite:
                _sqlite_setup(engine, busy_timeout)
            with engine.begin() as connection:
                queue.metadata.create_all(connection)
                if sqlite and LEGACY_MESSAGE_TABLE not in (queue.name, message.name):
                    _move_legacy_messages(connection, queue, message)
            _engines[key] = engine
    return engine


# --- the channel and the transport ---------------------------------------------------


class Channel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel with leases instead of in-memory acknowledgement."""

    from_transport_options = kombu_sqla.Channel.from_transport_options + (
        "visibility_timeout",
        "busy_timeout",
    )
    visibility_timeout = DEFAULT_VISIBILITY_TIMEOUT
    busy_timeout = DEFAULT_BUSY_TIMEOUT

    def __init__(self, connection, **kwargs):
        super().__init__(connection, **kwargs)
        self.visibility_timeout = float(self.visibility_timeout)
        # Shared by the connection's channels, kept here too: acks may arrive from
        # pool threads after the channel was closed (channel.connection is None then).
        self._leases: dict[str, tuple[int, int]] = connection._leases
        self._slot_freed: threading.Event = connection._slot_freed
        self._queue_ids: dict[str, int] = {}
        self._engine = engine_for(
            connection.client.hostname,
            self.queue_table,
            self.message_table,
            float(self.busy_timeout),
        )

    def _configure_entity_tablenames(self, opts):
        self.queue_tablename = opts.get("queue_tablename", QUEUE_TABLE)
        self.message_tablename = opts.get("message_tablename", MESSAGE_TABLE)
        self.queue_table, self.message_table = tables(
            self.queue_tablename, self.message_tablename
        )

    # kombu's ORM session and engine cache are not used.
    def _open(self):
        raise NotImplementedError

    @property
    def session(self):
        raise NotImplementedError("this transport does not use an ORM session")

    def _queue_id(self, queue: str) -> int:
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            try:
                with self._engine.begin() as connection:
                    queue_id = _queue_id_in(connection, self.queue_table, queue)
            except IntegrityError:  # another process made it first (not on SQLite)
                with self._engine.begin() as connection:
                    queue_id = _queue_id_in(connection, self.queue_table, queue)
            self._queue_ids[queue] = queue_id
        return queue_id

    def _get_or_create(self, queue):
        return self._queue_id(queue)

    def _new_queue(self, queue, **kwargs):
        self._queue_id(queue)

    def _put(self, queue, payload, **kwargs):
        queue_id = self._queue_id(queue)
        with self._engine.begin() as connection:
            connection.execute(
                insert(self.message_table).values(
                    queue_id=queue_id,
                    visible_at=0.0,
                    deliveries=0,
                    sent_at=time.time(),
                    payload=dumps(payload),
                )
            )

    def _get(self, queue, timeout=None):
        """The oldest row that is visible, or whose lease ran out, leased to us."""
        queue_id = self._queue_id(queue)
        message = self.message_table
        with self._engine.begin() as connection:
            now = time.time()
            row = connection.execute(
                select(message.c.id, message.c.deliveries, message.c.payload)
                .where(message.c.queue_id == queue_id, message.c.visible_at <= now)
                .order_by(message.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is not None:
                connection.execute(
                    update(message)
                    .where(message.c.id == row.id)
                    .values(
                        visible_at=now + self.visibility_timeout,
                        deliveries=row.deliveries + 1,
                    )
                )
        if row is None:
            raise Empty()
        payload = loads(row.payload)
        tag = payload["properties"]["delivery_tag"]
        self._leases[tag] = (row.id, row.deliveries + 1)
        return payload

    def _lease_where(self, delivery_tag):
        lease = self._leases.pop(delivery_tag, None)
        if lease is None:
            # Not taken through this connection: its row comes back after the
            # visibility timeout if it is still there.
            logger.warning("broker: no lease for delivery tag %s", delivery_tag)
            return None
        row_id, deliveries = lease
        message = self.message_table
        return (message.c.id == row_id) & (message.c.deliveries == deliveries)

    def _finish(self, delivery_tag) -> None:
        """The message is done with: its row goes."""
        where = self._lease_where(delivery_tag)
        if where is not None:
            with self._engine.begin() as connection:
                connection.execute(delete(self.message_table).where(where))

    def _give_back(self, delivery_tag) -> None:
        """The same row is visible again, at its place in the queue."""
        where = self._lease_where(delivery_tag)
        if where is not None:
            with self._engine.begin() as connection:
                connection.execute(
                    update(self.message_table).where(where).values(visible_at=0.0)
                )

    def basic_ack(self, delivery_tag, multiple=False):
        try:
            self._finish(delivery_tag)
        finally:
            # Even if the delete failed: the row's lease runs out and it is delivered
            # again; the channel must not count it against its prefetch forever.
            super().basic_ack(delivery_tag, multiple=multiple)
            self._slot_freed.set()

    def basic_reject(self, delivery_tag, requeue=False):
        try:
            if not requeue:
                self._finish(delivery_tag)
        finally:
            # requeue: QoS.reject calls _restore_at_beginning (below).
            super().basic_reject(delivery_tag, requeue=requeue)
            self._slot_freed.set()

    def basic_get(self, queue, no_ack=False, **kwargs):
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._finish(message.delivery_tag)
        return message

    def basic_consume(self, queue, no_ack, callback, consumer_tag, **kwargs):
        super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        if no_ack:
            deliver = self.connection._callbacks[queue]

            def finish_then_deliver(raw_message):
                self._finish(raw_message["properties"]["delivery_tag"])
                return deliver(raw_message)

            self.connection._callbacks[queue] = finish_then_deliver

    def _restore(self, message):
        """Unacknowledged at shutdown (QoS.restore_unacked): the same row visible
        again, never a copy."""
        self._give_back(message.delivery_tag)

    def _restore_at_beginning(self, message):
        self._give_back(message.delivery_tag)

    def _ready(self, queue):
        message = self.message_table
        return (message.c.queue_id == self._queue_id(queue)) & (
            message.c.visible_at <= time.time()
        )

    def _size(self, queue):
        with self._engine.begin() as connection:
            return connection.execute(
                select(func.count())
                .select_from(self.message_table)
                .where(self._ready(queue))
            ).scalar_one()

    def _purge(self, queue):
        """Delete the messages waiting in `queue` (not those a worker holds)."""
        with self._engine.begin() as connection:
            return connection.execute(
                delete(self.message_table).where(self._ready(queue))
            ).rowcount

    def _query_all(self, queue):
        raise NotImplementedError


class Transport(kombu_sqla.Transport):
    """kombu's SQLAlchemy transport with real acknowledgement (see the module)."""

    Channel = Channel

    def __init__(self, client, **kwargs):
        super().__init__(client, **kwargs)
        self._leases: dict[str, tuple[int, int]] = {}
        self._slot_freed = threading.Event()

    def drain_events(self, connection, timeout=None):
        """kombu's virtual drain loop, but the pause between two polls ends as soon as
        a message is acknowledged or rejected: a worker whose prefetch is full (one
        message per pool slot) would otherwise take its next message only after a
        whole polling interval, however short the task (one task a second)."""
        started = time.monotonic()
        interval = self.polling_interval
        if timeout and interval and interval > timeout:
            interval = timeout
        while True:
            self._slot_freed.clear()
            try:
                self.cycle.get(self._deliver, timeout=timeout)
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise socket.timeout() from None
                if interval is not None:
                    self._slot_freed.wait(interval)
            else:
                return
