"""The WebSocket protocol of /api/v1/realtime (API.md "Realtime"), in process: frames,
events after commit, rules and fields per subscriber, filters, resume."""

from __future__ import annotations

from tests.conftest import USER_PASSWORD, client_with, login

POSTS = "/api/v1/collections/posts/records"


def make_posts(admin, rules=None, extra_fields=()):
    fields = [
        {"name": "title", "type": "text"},
        {"name": "status", "type": "text"},
        {"name": "owner", "type": "relation", "options": {"collection": "users"}},
        *extra_fields,
    ]
    body = {"name": "posts", "fields": fields}
    body["rules"] = rules or {
        "list": "",
        "view": "",
        "create": "",
        "update": "",
        "delete": "",
    }
    response = admin.post("/api/v1/collections", body, format="json")
    assert response.status_code == 201, response.content


def create(client, **data) -> dict:
    response = client.post(POSTS, data, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_subscriber_sees_creates_updates_and_deletes_after_commit(live, admin, anon):
    make_posts(admin)
    ws = live()
    ack = ws.subscribe()
    assert ack["type"] == "subscribed" and ack["id"] == "s1" and ack["token"]
    post = create(anon, title="hello")
    event = ws.receive()
    assert event["type"] == "event" and event["sub"] == "s1"
    assert event["action"] == "create"
    assert event["record"] == post
    assert event["token"]
    response = anon.patch(f"{POSTS}/{post['id']}", {"title": "again"}, format="json")
    assert response.status_code == 200
    event = ws.receive()
    assert event["action"] == "update" and event["record"]["title"] == "again"
    assert anon.delete(f"{POSTS}/{post['id']}").status_code == 204
    event = ws.receive()
    assert event["action"] == "delete" and event["record"] == {"id": post["id"]}
    assert ws.nothing()


def test_a_failed_batch_emits_nothing(live, admin, anon):
    make_posts(admin)
    ws = live()
    ws.subscribe()
    response = anon.post(
        "/api/v1/batch",
        {
            "requests": [
                {"method": "POST", "url": POSTS, "body": {"title": "a"}},
                {"method": "POST", "url": POSTS, "body": {"title": {"no": 1}}},
            ]
        },
        format="json",
    )
    assert response.status_code >= 400, response.content
    assert ws.nothing(1.0)
    create(anon, title="after")
    assert ws.receive()["record"]["title"] == "after"


OWNER_ONLY = {
    "list": "owner = @request.auth.id",
    "view": "owner = @request.auth.id",
    "create": "@request.auth.id != ''",
    "update": "owner = @request.auth.id",
    "delete": "owner = @request.auth.id",
}


def test_each_subscriber_gets_only_what_its_view_rule_allows(
    live, admin, make_user, superuser
):
    make_posts(admin, OWNER_ONLY)
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    alice_token = login("alice@example.com", USER_PASSWORD)
    bob_token = login("bob@example.com", USER_PASSWORD)
    a, b, anonymous = live(), live(), live()
    assert a.auth(alice_token)["user"] == alice.pk
    assert b.auth(bob_token)["type"] == "authenticated"
    a.subscribe()
    b.subscribe()
    assert anonymous.subscribe()["type"] == "subscribed"
    mine = create(client_with(alice_token), title="alice's", owner=alice.pk)
    event = a.receive()
    assert event["record"]["id"] == mine["id"]
    assert b.nothing() and anonymous.nothing(0.1)
    # Ownership moves to bob: alice's events stop, bob's begin.
    admin.patch(f"{POSTS}/{mine['id']}", {"owner": bob.pk}, format="json")
    assert b.receive()["record"]["owner"] == bob.pk
    assert a.nothing()
    # A delete reaches only those who could see the record.
    admin.delete(f"{POSTS}/{mine['id']}")
    assert b.receive()["action"] == "delete"
    assert a.nothing()


def test_hidden_and_read_ruled_fields_never_appear_and_cannot_be_filtered_on(
    live, admin, make_user
):
    make_posts(
        admin,
        extra_fields=[
            {"name": "secret", "type": "text", "hidden": True},
            {
                "name": "note",
                "type": "text",
                "rules": {"read": "owner = @request.auth.id"},
            },
        ],
    )
    alice = make_user("alice@example.com")
    token = login("alice@example.com", USER_PASSWORD)
    anonymous, owner = live(), live()
    owner.auth(token)
    anonymous.subscribe()
    owner.subscribe()
    create(admin, title="t", secret="s3cret", note="n", owner=alice.pk)
    seen = anonymous.receive()["record"]
    assert "secret" not in seen and "note" not in seen
    mine = owner.receive()["record"]
    assert "secret" not in mine and mine["note"] == "n"
    probe = anonymous.subscribe("s2", filter="secret = 's3cret'")
    assert probe["type"] == "error" and probe["id"] == "s2"
    assert probe["status"] == 400
    assert probe["errors"][0]["param"] == "filter"
    # A field with a read rule in a filter matches only where it may be read.
    anonymous.subscribe("s3", filter="note = 'n'")
    create(admin, title="t2", note="n", owner=alice.pk)
    assert anonymous.receive()["sub"] == "s1"
    assert anonymous.nothing()


def test_a_filter_and_a_record_topic_narrow_what_arrives(live, admin, anon):
    make_posts(admin)
    first = create(anon, title="first", status="open")
    ws = live()
    ws.subscribe("open", filter="status = 'open'")
    ws.subscribe("one", topic=f"posts/{first['id']}")
    create(anon, title="closed one", status="closed")
    create(anon, title="open one", status="open")
    event = ws.receive()
    assert event["sub"] == "open" and event["record"]["title"] == "open one"
    anon.patch(f"{POSTS}/{first['id']}", {"title": "renamed"}, format="json")
    got = sorted((e["sub"], e["record"]["title"]) for e in ws.events(2))
    assert got == [("one", "renamed"), ("open", "renamed")]
    assert ws.nothing()


def test_since_replays_missed_changes_then_continues_live(live, admin, anon):
    make_posts(admin)
    ws = live()
    token = ws.subscribe()["token"]
    ws.close()
    a = create(anon, title="a")
    b = create(anon, title="b")
    again = live()
    again.send(type="subscribe", id="s1", topic="posts", since=token)
    assert again.receive()["type"] == "subscribed"
    replayed = again.events(2)
    assert [e["record"]["id"] for e in replayed] == [a["id"], b["id"]]
    c = create(anon, title="c")
    assert again.receive()["record"]["id"] == c["id"]
    assert again.nothing()
    # Resuming from the last token received sends nothing twice.
    third = live()
    third.send(type="subscribe", id="s1", topic="posts", since=replayed[-1]["token"])
    assert third.receive()["type"] == "subscribed"
    assert third.receive()["record"]["id"] == c["id"]
    assert third.nothing()


def test_bad_frames_and_subscriptions_get_error_frames(live, admin, anon):
    make_posts(admin, {**OWNER_ONLY, "list": None, "view": None})
    ws = live()
    ws.send(type="nonsense")
    assert ws.receive()["errors"][0]["code"] == "unknown_frame"
    missing = ws.subscribe("x", topic="nope")
    assert missing["status"] == 404 and missing["id"] == "x"
    closed = ws.subscribe("y", topic="posts")
    assert closed["status"] == 401
    bad_token = ws.subscribe("z", topic="users", since="garbage")
    assert bad_token["status"] == 400 and bad_token["errors"][0]["param"] == "since"
    ws.send(type="ping")
    assert ws.receive() == {"type": "pong"}


def test_an_invalid_token_is_refused_with_a_close_code(live):
    ws = live()
    answer = ws.auth("not-a-token")
    assert answer["type"] == "error" and answer["status"] == 401
    assert ws.receive() == {"type": "_closed", "code": 4001}
