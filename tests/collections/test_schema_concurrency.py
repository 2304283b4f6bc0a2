"""Concurrent schema changes on PostgreSQL: the collection row lock turns a second change
into a 409 `schema_conflict`, and no table is ever seen half-altered.

Each worker thread has its own database connection (Django connections are per thread).
A change is held open inside its transaction by pausing `ddl.apply_changes`, which runs
after the row lock is taken.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from apps.collections import services
from apps.collections.dynamic import ddl
from tests.collections.schema_helpers import (
    COLLECTIONS,
    add_record,
    columns,
    create_collection,
    error_of,
    fields_payload,
    get_collection,
    patch_collection,
    snapshot,
    table_names,
    table_of,
)
from tests.conftest import on_postgres

pytestmark = on_postgres

WAIT = 60  # seconds; a safety net against a hung test, not a timing assertion

COLUMN_CLASSES = {"text": "TextField", "number": "FloatField", "bool": "BooleanField"}


class Worker(threading.Thread):
    """Runs `target` on its own connection; keeps the result or the exception."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self.target = target
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.result = self.target()
        except BaseException as exc:  # noqa: BLE001 - re-checked by the test
            self.error = exc
        finally:
            connections.close_all()

    def finish(self):
        self.join(WAIT)
        assert not self.is_alive(), "worker did not finish"


class Pause:
    """Hold one thread's schema change inside its transaction, before or after its DDL."""

    def __init__(self, monkeypatch, *, after_ddl: bool = False):
        self.reached = threading.Event()
        self.release = threading.Event()
        self.thread: threading.Thread | None = None
        original = ddl.apply_changes

        def apply_changes(old, new):
            if threading.current_thread() is not self.thread:
                return original(old, new)
            if after_ddl:
                original(old, new)
            self.reached.set()
            assert self.release.wait(WAIT)
            if not after_ddl:
                original(old, new)

        monkeypatch.setattr(ddl, "apply_changes", apply_changes)

    def start(self, worker: Worker) -> Worker:
        self.thread = worker
        worker.start()
        assert self.reached.wait(WAIT), worker.error
        return worker

    def finish(self, worker: Worker) -> None:
        self.release.set()
        worker.finish()


def assert_table_matches_definition(collection: dict) -> None:
    """Every field has its column (of its type) and nothing else is in the table."""
    table = table_of(collection)
    cols = columns(table)
    expected = {f"f_{f['id']}": f["type"] for f in collection["fields"]}
    assert {c for c in cols if c.startswith("f_")} == set(expected)
    for column, type_name in expected.items():
        assert cols[column][0] == COLUMN_CLASSES[type_name], (column, type_name)


@pytest.fixture
def posts(schema_db, admin) -> dict:
    posts = create_collection(admin, "posts", [{"name": "title", "type": "text"}])
    add_record(admin, "posts", {"title": "kept"})
    return posts


def with_field(collection: dict, name: str, type_name: str = "text") -> dict:
    return {"fields": fields_payload(collection) + [{"name": name, "type": type_name}]}


@pytest.mark.parametrize("after_ddl", [False, True], ids=["before-ddl", "after-ddl"])
def test_second_change_while_one_holds_the_lock_is_a_conflict(
    posts, admin, superuser, monkeypatch, after_ddl
):
    pause = Pause(monkeypatch, after_ddl=after_ddl)
    worker = pause.start(
        Worker(
            lambda: services.collection_update(
                actor=superuser, name="posts", data=with_field(posts, "body", "number")
            )
        )
    )
    try:
        patch = admin.patch(
            f"{COLLECTIONS}/posts", with_field(posts, "summary"), format="json"
        )
        delete = admin.delete(f"{COLLECTIONS}/posts")
        rename = admin.patch(
            f"{COLLECTIONS}/posts", {"name": "articles"}, format="json"
        )
        # Readers are not blocked and see the definition as committed.
        during = get_collection(admin, "posts")
    finally:
        pause.finish(worker)

    for response in (patch, delete, rename):
        assert response.status_code == 409, response.content
        assert error_of(response)["code"] == "schema_conflict"
    assert during == posts
    assert worker.error is None, worker.error
    final = get_collection(admin, "posts")
    assert [f["name"] for f in final["fields"]] == ["title", "body"]
    assert_table_matches_definition(final)


def test_change_after_the_lock_is_released_goes_through(
    posts, admin, superuser, monkeypatch
):
    pause = Pause(monkeypatch)
    worker = pause.start(
        Worker(
            lambda: services.collection_update(
                actor=superuser, name="posts", data=with_field(posts, "body")
            )
        )
    )
    pause.finish(worker)
    assert worker.error is None, worker.error
    current = get_collection(admin, "posts")
    final = patch_collection(admin, "posts", with_field(current, "summary", "bool"))
    assert [f["name"] for f in final["fields"]] == ["title", "body", "summary"]
    assert_table_matches_definition(final)


def test_other_collections_can_change_meanwhile(posts, admin, superuser, monkeypatch):
    notes = create_collection(admin, "notes", [{"name": "body", "type": "text"}])
    pause = Pause(monkeypatch)
    worker = pause.start(
        Worker(
            lambda: services.collection_update(
                actor=superuser, name="posts", data=with_field(posts, "body")
            )
        )
    )
    try:
        other = admin.patch(
            f"{COLLECTIONS}/notes", with_field(notes, "title"), format="json"
        )
    finally:
        pause.finish(worker)
    assert other.status_code == 200, other.content
    assert worker.error is None, worker.error
    assert_table_matches_definition(get_collection(admin, "notes"))
    assert_table_matches_definition(get_collection(admin, "posts"))


def test_failed_ddl_leaves_definition_and_table_and_releases_the_lock(
    schema_db, admin, superuser, monkeypatch
):
    codes = create_collection(admin, "codes", [{"name": "code", "type": "text"}])
    for code in ("a", "a"):
        add_record(admin, "codes", {"code": code})
    before_definition, before_table = (
        get_collection(admin, "codes"),
        snapshot(table_of(codes)),
    )
    change = with_field(codes, "added", "number")
    change["fields"][0]["unique"] = True

    pause = Pause(monkeypatch)
    worker = pause.start(
        Worker(
            lambda: services.collection_update(
                actor=superuser, name="codes", data=change
            )
        )
    )
    try:
        meanwhile = admin.patch(
            f"{COLLECTIONS}/codes", with_field(codes, "x"), format="json"
        )
    finally:
        pause.finish(worker)

    assert meanwhile.status_code == 409, meanwhile.content
    assert error_of(meanwhile)["code"] == "schema_conflict"
    assert worker.error is not None
    assert (worker.error.status, worker.error.errors[0].code) == (
        409,
        "constraint_violation",
    )
    assert get_collection(admin, "codes") == before_definition
    assert snapshot(table_of(codes)) == before_table
    after = patch_collection(admin, "codes", with_field(codes, "later"))
    assert_table_matches_definition(after)


def test_two_simultaneous_patches_never_leave_a_half_altered_table(
    posts, admin, key_client
):
    clients = [admin, key_client("schema")]
    barrier = threading.Barrier(len(clients))

    def patch(client, name):
        def run():
            barrier.wait(WAIT)
            return client.patch(
                f"{COLLECTIONS}/posts", with_field(posts, name, "number"), format="json"
            )

        return run

    workers = [Worker(patch(c, f"field{i}")) for i, c in enumerate(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.finish()
        assert worker.error is None, worker.error

    statuses = sorted(w.result.status_code for w in workers)
    assert statuses in ([200, 200], [200, 409]), [w.result.content for w in workers]
    for worker in workers:
        if worker.result.status_code == 409:
            assert error_of(worker.result)["code"] == "schema_conflict"
    final = get_collection(admin, "posts")
    assert final["fields"][0]["name"] == "title"
    assert len(final["fields"]) == 2
    assert_table_matches_definition(final)
    assert table_of(final) in table_names()
