"""Delta sync under concurrent writers on PostgreSQL: transactions that take change
sequence numbers in one order and commit in another never make a reader miss a change
(apps.records.changelog: the horizon)."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, transaction

from apps.collections.dynamic import cache
from apps.collections.models import Change
from apps.collections.services import get_spec
from apps.records import changelog, records
from tests.conftest import on_postgres
from tests.records.test_changes import changes, create, drain, make_collection, ops

pytestmark = on_postgres


@pytest.fixture
def notes(schema_db, admin, superuser):
    make_collection(
        admin,
        "notes",
        [{"name": "title", "type": "text"}, {"name": "n", "type": "number"}],
    )
    return admin, superuser


class SlowWriter(threading.Thread):
    """Creates a record in a transaction that stays open until released."""

    def __init__(self, actor) -> None:
        super().__init__(daemon=True)
        self.actor = actor
        self.logged, self.release = threading.Event(), threading.Event()
        self.record: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.record = records.record_create(
                    actor=self.actor, collection="notes", data={"title": "slow"}
                )
                self.logged.set()
                assert self.release.wait(20)
        except BaseException as exc:  # reported by the test thread
            self.error = exc
            self.logged.set()
        finally:
            connection.close()

    def commit(self) -> None:
        self.release.set()
        self.join(20)
        assert self.error is None, self.error


def _interleave(admin, superuser) -> tuple[SlowWriter, dict, dict, str]:
    """The slow writer takes the lower seq, a fast one commits first, and a reader
    polls in between. Returns the writers' records, the first page, and its start."""
    start = changes(admin)["next"]
    slow = SlowWriter(superuser)
    slow.start()
    assert slow.logged.wait(20)
    assert slow.error is None, slow.error
    fast = create(admin, "notes", title="fast")
    first = changes(admin, since=start)
    slow.commit()
    slow_row = Change.objects.get(record_id=slow.record["id"])
    fast_row = Change.objects.get(record_id=fast["id"])
    assert slow_row.seq < fast_row.seq  # seq order is not commit order here
    return slow, fast, first, start


def test_a_change_that_commits_after_a_later_numbered_one_is_not_missed(notes):
    admin, superuser = notes
    slow, fast, first, start = _interleave(admin, superuser)
    # While the slow transaction was open, the fast record was held back.
    assert first["changes"] == [] and first["has_more"] is False
    rest, _, _ = drain(admin, since=first["next"])
    assert ops(rest) == [("upsert", slow.record["id"]), ("upsert", fast["id"])]
    everything, _, _ = drain(admin, since=start)
    assert ops(everything) == ops(rest)


def test_without_the_horizon_the_same_interleaving_loses_a_change(notes, monkeypatch):
    """The control experiment: the scenario above really defeats a reader that trusts
    sequence order, so the test above would catch the horizon being dropped."""
    admin, superuser = notes
    monkeypatch.setattr(changelog, "_snapshot_bounds", lambda: None)
    monkeypatch.setattr(changelog, "_check_still_valid", lambda *args: None)
    slow, fast, first, _ = _interleave(admin, superuser)
    assert ops(first["changes"]) == [("upsert", fast["id"])]
    rest, _, _ = drain(admin, since=first["next"])
    assert rest == []  # the slow record is lost to this reader


class EarlyDeleter(threading.Thread):
    """Takes a transaction id first (creates a record), waits, then deletes `target`:
    its tombstone sorts before a change that committed earlier."""

    def __init__(self, actor, target: str) -> None:
        super().__init__(daemon=True)
        self.actor, self.target = actor, target
        self.started, self.release = threading.Event(), threading.Event()
        self.record: dict | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.record = records.record_create(
                    actor=self.actor, collection="notes", data={"title": "other"}
                )
                self.started.set()
                assert self.release.wait(20)
                records.record_delete(
                    actor=self.actor, collection="notes", record_id=self.target
                )
        except BaseException as exc:
            self.error = exc
            self.started.set()
        finally:
            connection.close()


@pytest.mark.parametrize("limit", [1, 2, 500])
def test_a_delete_logged_before_an_update_that_committed_first_still_deletes(
    notes, limit
):
    admin, superuser = notes
    target = create(admin, "notes", title="target")
    first = changes(admin)
    state = {c["record"]["id"]: c["record"] for c in first["changes"]}
    assert set(state) == {target["id"]}
    deleter = EarlyDeleter(superuser, target["id"])
    deleter.start()
    assert deleter.started.wait(20) and deleter.error is None, deleter.error
    response = admin.patch(
        f"/api/v1/collections/notes/records/{target['id']}", {"n": 1}, format="json"
    )
    assert response.status_code == 200
    deleter.release.set()
    deleter.join(20)
    assert deleter.error is None, deleter.error
    after_create = Change.objects.filter(record_id=target["id"]).order_by("seq")[1:]
    rows = {row.op: (row.txid, row.seq) for row in after_create}
    assert rows["delete"] < rows["update"]  # the log order is not the commit order
    for change in drain(admin, since=first["next"], limit=limit)[0]:
        if change["op"] == "upsert":
            state[change["record"]["id"]] = change["record"]
        else:
            state.pop(change["id"], None)
    assert set(state) == {deleter.record["id"]}


WRITERS = 4
TRANSACTIONS = 12


class Writer(threading.Thread):
    """Creates, updates and deletes its own records, each write in a transaction held
    open for a random while (writer 0: longest), so commits overtake each other."""

    def __init__(self, number: int, actor, commits: list, lock) -> None:
        super().__init__(daemon=True)
        self.number, self.actor = number, actor
        self.commits, self.lock = commits, lock
        self.error: BaseException | None = None
        self.random = random.Random(number)

    def run(self) -> None:
        mine: list[str] = []
        try:
            for i in range(TRANSACTIONS):
                with transaction.atomic():
                    record = records.record_create(
                        actor=self.actor,
                        collection="notes",
                        data={"title": f"{self.number}-{i}", "n": 0},
                    )
                    mine.append(record["id"])
                    if i % 3 == 1:
                        records.record_update(
                            actor=self.actor,
                            collection="notes",
                            record_id=mine[-2],
                            data={"n": i},
                        )
                    if i % 4 == 3:
                        records.record_delete(
                            actor=self.actor, collection="notes", record_id=mine[0]
                        )
                        mine.pop(0)
                    seq = Change.objects.filter(record_id=record["id"]).get().seq
                    pause = 0.05 if self.number == 0 else self.random.uniform(0, 0.01)
                    time.sleep(pause)
                with self.lock:
                    self.commits.append(seq)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def test_a_polling_reader_ends_with_every_committed_record_exactly_once(notes):
    admin, superuser = notes
    commits: list[int] = []
    lock = threading.Lock()
    writers = [Writer(n, superuser, commits, lock) for n in range(WRITERS)]
    state: dict[str, dict] = {}
    token, positions = None, []

    def poll() -> bool:
        nonlocal token
        params = {"limit": 5} | ({"since": token} if token else {})
        body = changes(admin, **params)
        seen = [
            c["record"]["id"] if c["op"] == "upsert" else c["id"]
            for c in body["changes"]
        ]
        assert len(seen) == len(set(seen))  # one entry per record in a page
        for change in body["changes"]:
            if change["op"] == "upsert":
                state[change["record"]["id"]] = change["record"]
            else:
                state.pop(change["id"], None)
        token = body["next"]
        positions.append(changelog.decode_token(token))
        return body["has_more"]

    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers):
        poll()
        time.sleep(0.002)
    for writer in writers:
        writer.join()
        assert writer.error is None, writer.error
    while poll():
        pass

    assert positions == sorted(positions)  # tokens never go back
    spec = get_spec("notes")
    title, n = (spec.field_by_name(name).attname for name in ("title", "n"))
    stored = dict(
        (row[0], (row[1], row[2]))
        for row in cache.model_for(spec).objects.values_list("id", title, n)
    )
    assert {i: (r["title"], r["n"]) for i, r in state.items()} == stored
    expected_live = WRITERS * (TRANSACTIONS - TRANSACTIONS // 4)
    assert len(stored) == expected_live
    # The run did exercise the hazard: some transaction committed after one that took
    # a higher sequence number.
    assert any(a > b for i, a in enumerate(commits) for b in commits[i + 1 :])
