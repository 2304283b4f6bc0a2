"""Events from what a writer sent (apps.realtime.bus, the embedded profile): a write's
change rows and records travel with its wake-up, and the hub sends their events without
reading the change log when they continue its cursor. The log stays the truth: whatever
the hub cannot plan from what was sent (a delete, a rule that needs a query, a spec it
has not seen) is read from the log. The rest of tests/realtime runs with writers that see
subscriptions at once (conftest), so their events take this path wherever it applies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, transaction

from apps.realtime import hub as hub_module
from baas import records
from tests.conftest import USER_PASSWORD, client_with, login
from tests.realtime.test_realtime_ws import POSTS, create, make_posts


@pytest.fixture(autouse=True)
def embedded_profile():
    if settings.REDIS_URL or connection.vendor != "sqlite":
        pytest.skip("writers send change rows on SQLite without Redis only")


def sent_events() -> int:
    return hub_module._hub.sent_events


def test_a_write_s_events_go_out_from_what_it_sent_with_each_subscriber_s_fields(
    live, admin, make_user
):
    make_posts(
        admin,
        rules={"list": "", "view": "", "create": "", "update": "", "delete": ""},
        extra_fields=[
            {"name": "secret", "type": "text", "hidden": True},
            {
                "name": "note",
                "type": "text",
                "rules": {"read": "owner = @request.auth.id"},
            },
            {"name": "meta", "type": "json"},
            {"name": "done", "type": "bool"},
            {"name": "due", "type": "date"},
        ],
    )
    alice = make_user("alice@example.com")
    token = login("alice@example.com", USER_PASSWORD)
    anonymous, owner = live(), live()
    owner.auth(token)
    anonymous.subscribe()
    owner.subscribe()
    before = sent_events()
    post = create(
        admin,
        title="t",
        secret="s3cret",
        note="n",
        owner=alice.pk,
        meta={"a": [1, 2.5, None]},
        done=True,
        due="2026-12-07 10:00:00.123Z",
    )
    seen, mine = anonymous.receive(), owner.receive()
    assert sent_events() == before + 2
    assert seen["action"] == mine["action"] == "create"
    assert "secret" not in seen["record"] and "note" not in seen["record"]
    # What the owner gets is what the API shows the owner.
    shown = client_with(token).get(f"{POSTS}/{post['id']}").json()
    assert mine["record"] == shown
    assert mine["record"]["meta"] == {"a": [1, 2.5, None]}
    assert mine["record"]["done"] is True

    admin.patch(f"{POSTS}/{post['id']}", {"note": "n2"}, format="json")
    assert owner.receive()["record"]["note"] == "n2"
    assert "note" not in anonymous.receive()["record"]
    assert sent_events() == before + 4

    # A delete's tombstone is read from the log.
    admin.delete(f"{POSTS}/{post['id']}")
    assert owner.receive()["action"] == anonymous.receive()["action"] == "delete"
    assert sent_events() == before + 4
    assert owner.nothing() and anonymous.nothing()


def test_a_rule_that_needs_a_query_is_tested_on_the_log_s_read(live, admin, make_user):
    make_posts(
        admin,
        rules={
            "list": "",
            "view": "owner.email = @request.auth.email",
            "create": "",
            "update": "",
            "delete": "",
        },
    )
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    a, b = live(), live()
    a.auth(login("alice@example.com", USER_PASSWORD))
    b.auth(login("bob@example.com", USER_PASSWORD))
    a.subscribe()
    b.subscribe()
    before = sent_events()
    post = create(admin, title="alice's", owner=alice.pk)
    assert a.receive()["record"]["id"] == post["id"]
    assert b.nothing()
    assert sent_events() == before
    assert bob.pk != alice.pk


def test_a_savepoint_rolled_back_sends_no_event_and_hides_none(live, admin):
    """A change rolled back with its savepoint gives its `seq` back: the next change
    takes it. What is sent is read from the log as committed, so no event is made up and
    none is skipped."""
    make_posts(admin)
    ws = live()
    ws.subscribe()
    with transaction.atomic():
        first = records.create("posts", {"title": "kept 1"})
        try:
            with transaction.atomic():
                records.create("posts", {"title": "rolled back"})
                raise RuntimeError
        except RuntimeError:
            pass
        second = records.create("posts", {"title": "kept 2"})
    third = records.create("posts", {"title": "after"})
    got = [e["record"]["title"] for e in ws.events(3)]
    assert got == ["kept 1", "kept 2", "after"]
    assert ws.nothing()
    kept = {r["id"] for r in records.list("posts")["items"]}
    assert kept == {first["id"], second["id"], third["id"]}


def test_a_schema_change_after_subscribing_is_read_from_the_log(live, admin, anon):
    make_posts(admin)
    ws = live()
    ws.subscribe()
    create(anon, title="before")
    assert ws.receive()["record"]["title"] == "before"
    response = admin.patch(
        "/api/v1/collections/posts",
        {
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "status", "type": "text"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
                {"name": "extra", "type": "number"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    create(anon, title="after", extra=7)
    record = ws.receive()["record"]
    assert record["title"] == "after" and record["extra"] == 7
