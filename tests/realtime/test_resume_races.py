"""Resume while writes race the subscription: the replay from `since` and the live events
that follow meet with no gap and no duplicate; a token older than the change log keeps
gets `resync_required`."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import close_old_connections

from apps.collections.models import Change, PrunedChanges
from apps.realtime import hub as hub_module
from tests.realtime.test_realtime_ws import create, make_posts

WRITES = 60


def test_a_resume_racing_a_writer_gets_every_change_once_in_order(live, admin, anon):
    make_posts(admin)
    first = live()
    since = first.subscribe()["token"]
    created: list[str] = []
    started = threading.Event()

    def writer():
        try:
            for i in range(WRITES):
                created.append(create(anon, title=f"w{i}")["id"])
                if i == WRITES // 3:
                    started.set()
                time.sleep(0.005)
        finally:
            close_old_connections()

    thread = threading.Thread(target=writer)
    thread.start()
    assert started.wait(30)
    late = live()
    late.send(type="subscribe", id="s1", topic="posts", since=since)
    assert late.receive()["type"] == "subscribed"
    thread.join(60)
    got = [late.receive()["record"]["id"] for _ in range(WRITES)]
    assert got == created
    assert late.nothing()
    assert [first.receive()["record"]["id"] for _ in range(WRITES)] == created


def test_a_token_older_than_the_log_keeps_gets_resync_required(live, admin, anon):
    make_posts(admin)
    ws = live()
    old = ws.subscribe()["token"]
    record = create(anon, title="gone soon")
    anon.delete(f"/api/v1/collections/posts/records/{record['id']}")
    newest = Change.objects.order_by("-seq").first()
    # The hub reads past the delete (on PostgreSQL below the oldest open transaction's
    # horizon: on a loaded machine that can take seconds). What the subscriber gets depends
    # on how the reads fell: the create and the delete; the delete alone (the create was
    # read once the record was gone); or nothing (one read found both: a record it never saw).
    deadline = time.monotonic() + 20
    while hub_module._hub.cursor < (newest.txid, newest.seq):
        assert time.monotonic() < deadline, "the hub did not read past the delete"
        time.sleep(0.05)
    got = []
    while not ws.nothing():
        got.append(ws.receive())
    assert [(e["action"], e["record"]["id"]) for e in got] in (
        [("create", record["id"]), ("delete", record["id"])],
        [("delete", record["id"])],
        [],
    )
    # What pruning leaves behind (apps.records.changelog.prune): the tombstone is gone
    # and the collection's pruned mark is past the old token.
    PrunedChanges.objects.create(
        collection_id=newest.collection_id, txid=newest.txid, seq=newest.seq
    )
    Change.objects.filter(collection_id=newest.collection_id).delete()
    again = live()
    answer = again.subscribe("s2", since=old)
    assert answer["type"] == "error" and answer["status"] == 410
    assert answer["errors"][0]["code"] == "resync_required"


@pytest.mark.parametrize("token", ["MS45OTk5OTk5OTkuMA", "x" * 80, 12])
def test_a_token_from_elsewhere_is_refused(live, admin, token):
    make_posts(admin)
    answer = live().subscribe(since=token)
    assert answer["type"] == "error" and answer["status"] in (400, 410)
