"""The Python SDK's realtime client (sdk/python, `client.realtime`) against `baas serve`:
record events, filters, rules, token refresh on an open connection, 4001 and 4003,
channels with presence, and a server restart mid-stream resumed without loss or repeat.

Django's live_server speaks WSGI only, so this module runs the real server (one per
module, access tokens living TTL seconds so that refreshing shows within a test).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e import servers
from tests.e2e.servers import EMAIL, PASSWORD, READY_LINE

PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client  # noqa: E402

# The SDK's behaviour does not depend on the server's profile, whose realtime paths the
# server's own tests cover on both (tests/realtime, tests/e2e): run once, on SQLite.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        servers.postgres_profile(), reason="SDK realtime: run on the SQLite profile"
    ),
]

TTL = 5  # seconds an access token lives on this server
OPEN = {"list": "", "view": "", "create": "", "update": "", "delete": ""}
OWNED = "owner = @request.auth.id"
USER_PASSWORD = "A-long-pass-phrase-1"


class Served:
    """The module's server; the restart test replaces it with a new one (same port)."""

    def __init__(self, server: servers.Server, env: dict, data_dir: Path) -> None:
        self.server = server
        self.env = env
        self.data_dir = data_dir
        self.url = server.url
        self.all = [server]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("sdk-realtime")
    with servers.serving(
        data_dir,
        BAAS_EMAIL_VERIFICATION="none",
        BAAS_RATE_LIMITS="off",
        BAAS_JWT_ACCESS_TTL=str(TTL),
    ) as (server, env):
        holder = Served(server, env, data_dir)
        try:
            yield holder
        finally:
            for each in holder.all:
                each.kill()


@pytest.fixture(scope="module")
def admin(served):
    """The superuser's client, and the collections and channels of the module."""
    client = Client(served.url, timeout=30)
    client.auth.login(EMAIL, PASSWORD)
    fields = [{"name": "title", "type": "text"}, {"name": "rank", "type": "number"}]
    client.collections.create({"name": "posts", "fields": fields, "rules": OPEN})
    client.collections.create({"name": "journal", "fields": fields, "rules": OPEN})
    client.collections.create(
        {
            "name": "notes",
            "fields": [
                {"name": "title", "type": "text"},
                {
                    "name": "owner",
                    "type": "relation",
                    "options": {"collection": "users"},
                },
            ],
            "rules": {
                "list": OWNED,
                "view": OWNED,
                "create": "@request.auth.id != '' && @request.body.owner = "
                "@request.auth.id",
            },
        }
    )
    client.request(
        "POST",
        "/channels",
        json={
            "name": "room-*",
            "rules": {"subscribe": "", "publish": "@request.auth.id != ''"},
            "presence": True,
        },
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def users(served, admin):
    """Two app users: name -> (email, id)."""
    made = {}
    for name in ("ada", "bob"):
        email = f"{name}@example.com"
        with Client(served.url) as client:
            result = client.auth.signup(email, USER_PASSWORD)
            assert result.signed_in, result
            made[name] = (email, result.user["id"])
    return made


@pytest.fixture
def connect(served):
    """connect(user=None, **options) -> a Client (signed in as `user`), closed after."""
    made: list[Client] = []

    def make(user: tuple[str, str] | None = None, **options) -> Client:
        client = Client(served.url, timeout=15, **options)
        made.append(client)
        if user is not None:
            client.auth.login(user[0], USER_PASSWORD)
        return client

    yield make
    for client in made:
        client.close()


class Inbox:
    """A callback that keeps what it gets, and waits for it."""

    def __init__(self) -> None:
        self.items: list = []
        self._changed = threading.Condition()

    def __call__(self, item) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def wait_for(self, predicate, timeout: float = 15.0, what: str = "") -> list:
        with self._changed:
            ok = self._changed.wait_for(lambda: predicate(self.items), timeout)
            assert ok, f"timed out waiting for {what or predicate}: {self.items!r}"
            return list(self.items)

    def wait_len(self, n: int, timeout: float = 15.0) -> list:
        return self.wait_for(lambda items: len(items) >= n, timeout, f"{n} items")


def ids(events: list) -> list[str]:
    return [e["record"]["id"] for e in events]


def test_events_of_creates_updates_and_deletes_arrive_in_order(connect, admin):
    client = connect()
    posts, inbox = admin.collection("posts"), Inbox()
    sub = client.collection("posts").subscribe(inbox)
    assert sub.active and sub.token  # the acknowledgement's position
    created = posts.create({"title": "one", "rank": 1})
    inbox.wait_len(1)
    updated = posts.update(created["id"], {"title": "two"})
    inbox.wait_len(2)
    posts.delete(created["id"])
    events = inbox.wait_len(3)
    assert [e["action"] for e in events] == ["create", "update", "delete"]
    assert events[0]["record"] == created and events[1]["record"] == updated
    assert events[2]["record"] == {"id": created["id"]}
    assert len({e["token"] for e in events}) == 3
    assert sub.token == events[-1]["token"]

    # One record's topic, resumed from a token: what came after it, then live.
    other = posts.create({"title": "followed"})
    one = Inbox()
    client.collection("posts").subscribe(
        one, record_id=other["id"], since=events[-1]["token"]
    )
    assert ids(one.wait_len(1)) == [other["id"]]
    posts.update(other["id"], {"rank": 7})
    posts.create({"title": "not followed"})
    assert one.wait_len(2)[1]["record"]["rank"] == 7
    sub.unsubscribe()
    assert not sub.active


def test_a_filter_keeps_other_records_out(connect, admin):
    client = connect()
    high, everything = Inbox(), Inbox()
    client.realtime.subscribe("posts", high, filter="rank > 5")
    client.realtime.subscribe("posts", everything)
    posts = admin.collection("posts")
    low = posts.create({"title": "low", "rank": 1})
    top = posts.create({"title": "high", "rank": 9})
    last = posts.create({"title": "last", "rank": 2})
    # One connection, events in log order: once the last one came, all did.
    everything.wait_for(lambda items: last["id"] in ids(items))
    assert ids(high.items) == [top["id"]]
    assert low["id"] in ids(everything.items)


def test_refusals_raise_the_servers_error(connect):
    client = connect()
    cases = [
        (lambda: client.realtime.subscribe("nope", print), 404, "collection_not_found"),
        (
            lambda: client.realtime.subscribe("posts", print, filter="rank >"),
            400,
            "invalid_filter",
        ),
        (
            lambda: client.realtime.subscribe("posts", print, since="bogus"),
            400,
            "invalid_token",
        ),
    ]
    for call, status, code in cases:
        with pytest.raises(BaasError) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (status, code)
    assert client.realtime.state == "open"  # refusals do not end the connection


def test_signed_in_users_see_their_own_records_and_anonymous_callers_none(
    connect, admin, users
):
    ada, bob, anonymous = connect(users["ada"]), connect(users["bob"]), connect()
    inboxes = {"ada": Inbox(), "bob": Inbox(), "anonymous": Inbox()}
    sentinels = Inbox()
    for name, client in (("ada", ada), ("bob", bob), ("anonymous", anonymous)):
        client.collection("notes").subscribe(inboxes[name])
    anonymous.collection("posts").subscribe(sentinels)
    ada_note = ada.collection("notes").create(
        {"title": "ada's", "owner": users["ada"][1]}
    )
    bob_note = bob.collection("notes").create(
        {"title": "bob's", "owner": users["bob"][1]}
    )
    assert ids(inboxes["ada"].wait_len(1)) == [ada_note["id"]]
    assert ids(inboxes["bob"].wait_len(1)) == [bob_note["id"]]
    # After a post on the same connection: no note reached the anonymous caller.
    marker = admin.collection("posts").create({"title": "sentinel"})
    sentinels.wait_for(lambda items: marker["id"] in ids(items))
    assert inboxes["anonymous"].items == []
    assert ids(inboxes["ada"].items) == [ada_note["id"]]


def test_tokens_refreshed_on_the_open_connection_keep_events_flowing(
    connect, admin, users
):
    refreshed: list = []
    client = connect(users["ada"], on_tokens=lambda a, r: refreshed.append(a))
    states, errors, inbox = Inbox(), Inbox(), Inbox()
    client.realtime.on_state_change(states)
    client.realtime.on_error(errors)
    client.collection("posts").subscribe(inbox)
    first = client.auth.access_token
    # The same token without a refresh token: its connection ends at expiry (4001)
    # and waits for new tokens.
    plain = connect(token=first)
    plain_errors, plain_inbox = Inbox(), Inbox()
    plain.realtime.on_error(plain_errors)
    plain.collection("posts").subscribe(plain_inbox)

    posts = admin.collection("posts")
    written = []
    deadline = time.monotonic() + TTL + 1.5  # the first token expired meanwhile
    while time.monotonic() < deadline:
        written.append(posts.create({"title": f"tick {len(written)}"})["id"])
        time.sleep(0.5)
    assert ids(inbox.wait_len(len(written))) == written
    assert client.auth.access_token != first and len(refreshed) >= 2
    assert states.items == ["connecting", "open"]  # never reconnected
    assert errors.items == []
    plain_errors.wait_for(lambda items: items, what="invalid_token")
    assert plain_errors.items[0].code == "invalid_token"
    assert plain_errors.items[0].status == 401
    assert plain.realtime.state == "idle"
    assert len(plain_inbox.items) < len(written)


def test_a_refused_token_is_refreshed_and_the_stream_resumes_exactly_once(
    connect, admin, users
):
    client = connect(users["bob"])
    states, errors, inbox = Inbox(), Inbox(), Inbox()
    client.realtime.on_state_change(states)
    client.realtime.on_error(errors)
    client.collection("posts").subscribe(inbox)
    posts = admin.collection("posts")
    written = [posts.create({"title": "before"})["id"]]
    inbox.wait_len(1)
    # The connection is sent a token the server refuses: 4001, refresh, reconnect.
    client.auth.set_tokens("not-a-token", client.auth.refresh_token)
    written.append(posts.create({"title": "meanwhile"})["id"])
    states.wait_for(lambda items: "reconnecting" in items)
    states.wait_for(lambda items: items[-1] == "open")
    written.append(posts.create({"title": "after"})["id"])
    events = inbox.wait_len(3)
    time.sleep(0.3)
    assert ids(inbox.items) == written == ids(events)
    assert client.auth.access_token not in (None, "not-a-token")
    assert errors.items == []


def test_a_session_ended_elsewhere_clears_the_tokens_and_goes_on_anonymously(
    connect, admin, users
):
    ended: list = []
    client = connect(users["ada"], on_tokens=lambda a, r: ended.append((a, r)))
    errors, inbox = Inbox(), Inbox()
    client.realtime.on_error(errors)
    client.collection("posts").subscribe(inbox)
    other = connect(users["ada"])
    others = [s["id"] for s in other.auth.sessions() if not s["is_current"]]
    other.auth.end_sessions(others)  # this client's session among them: 4003
    errors.wait_for(lambda items: items, what="session_ended")
    assert (errors.items[0].status, errors.items[0].code) == (410, "session_ended")
    assert client.auth.access_token is None and ended[-1] == (None, None)
    post = admin.collection("posts").create({"title": "still public"})
    inbox.wait_for(lambda items: post["id"] in ids(items))
    assert client.realtime.state == "open"


def test_logout_goes_on_anonymously_without_an_error(connect, admin, users):
    client = connect(users["bob"])
    states, errors, posts_inbox, notes_inbox = Inbox(), Inbox(), Inbox(), Inbox()
    client.realtime.on_state_change(states)
    client.realtime.on_error(errors)
    client.collection("posts").subscribe(posts_inbox)
    client.collection("notes").subscribe(notes_inbox)
    bob = connect(users["bob"]).collection("notes")
    mine = bob.create({"title": "while signed in", "owner": users["bob"][1]})
    notes_inbox.wait_len(1)
    client.auth.logout()
    states.wait_for(lambda items: items.count("open") >= 2, what="open again")
    hidden = bob.create({"title": "after logout", "owner": users["bob"][1]})
    post = admin.collection("posts").create({"title": "after logout"})
    posts_inbox.wait_for(lambda items: post["id"] in ids(items))
    assert ids(notes_inbox.items) == [mine["id"]]
    assert hidden["id"] not in ids(notes_inbox.items)
    assert errors.items == []


def test_channels_carry_messages_to_others_with_presence(connect, users):
    ada, bob, anonymous = connect(users["ada"]), connect(users["bob"]), connect()
    ada_id, bob_id = users["ada"][1], users["bob"][1]
    room = ada.realtime.channel("room-sdk")
    presence, ada_messages = Inbox(), Inbox()
    room.on_presence(presence)
    room.subscribe(ada_messages)
    presence.wait_for(lambda items: items, what="sync")
    assert presence.items[0] == {"action": "sync", "user": None, "members": [ada_id]}

    bob_room, bob_messages = bob.realtime.channel("room-sdk"), Inbox()
    bob_room.subscribe(bob_messages)
    presence.wait_for(lambda items: len(items) >= 2, what="bob joins")
    assert presence.items[1]["action"] == "join"
    assert presence.items[1]["user"] == bob_id
    assert sorted(room.members) == sorted([ada_id, bob_id])
    assert sorted(bob_room.members) == sorted([ada_id, bob_id])

    watcher = Inbox()
    anonymous.realtime.subscribe("channel:room-sdk", watcher)  # not a member
    bob_room.publish({"text": "hi"})
    message = {"topic": "channel:room-sdk", "data": {"text": "hi"}, "from": bob_id}
    assert ada_messages.wait_len(1) == [message]
    assert watcher.wait_len(1) == [message]
    room.publish("hello bob")
    bob_messages.wait_len(1)
    assert bob_messages.items == [
        {"topic": "channel:room-sdk", "data": "hello bob", "from": ada_id}
    ]  # not its own message
    assert len(ada_messages.items) == 1
    with pytest.raises(BaasError) as caught:  # publish: signed-in users only
        anonymous.realtime.channel("room-sdk").publish("anyone?")
    assert caught.value.status in (401, 403)

    bob.realtime.close()
    presence.wait_for(lambda items: len(items) >= 3, what="bob leaves")
    assert presence.items[2]["action"] == "leave"
    assert presence.items[2]["user"] == bob_id
    assert room.members == [ada_id]

    nowhere = ada.realtime.channel("nowhere")
    for call in (lambda: nowhere.subscribe(print), lambda: nowhere.publish(1)):
        with pytest.raises(BaasError) as caught:
            call()
        assert (caught.value.status, caught.value.code) == (404, "channel_not_found")


def test_a_server_restart_mid_stream_loses_and_repeats_nothing(served, connect, admin):
    """Records written before, during (straight into the database, while the server
    stops) and after a restart on the same port and data directory reach the subscriber
    once each, in order."""
    client = connect()
    client.realtime.reconnect_max = 1.0  # keep the test short
    states, inbox = Inbox(), Inbox()
    client.realtime.on_state_change(states)
    client.collection("journal").subscribe(inbox)
    journal = admin.collection("journal")
    written = [journal.create({"title": f"before {n}"})["id"] for n in range(2)]
    inbox.wait_len(2)

    old, stopped = served.server, []
    # SIGTERM: realtime closes its connections with 1001 first, then the rest stops.
    stopping = threading.Thread(target=lambda: stopped.append(old.stop()))
    stopping.start()
    states.wait_for(lambda items: "reconnecting" in items)
    code = (
        "from apps.records.records import record_create\n"
        "for n in range(2):\n"
        "    print(record_create(actor=None, collection='journal',"
        " data={'title': f'down {n}'})['id'])"
    )
    shell = servers.run_baas("shell", "-c", code, env=served.env)
    assert shell.returncode == 0, shell.stderr
    written += shell.stdout.split()[-2:]
    stopping.join(30)
    assert stopped, f"the server did not stop\n{old.logs()}"

    new = servers.Server(
        ["serve", "--port", str(old.port)],
        env=served.env,
        log_dir=served.data_dir,
        name="serve-again",
        port=old.port,
    )
    served.server = new
    served.all.append(new)
    new.wait_for_output(READY_LINE)
    new.wait_healthy()
    written.append(journal.create({"title": "after 0"})["id"])
    inbox.wait_for(lambda items: written[-1] in ids(items), timeout=30)
    written.append(journal.create({"title": "after 1"})["id"])
    inbox.wait_len(len(written))
    time.sleep(0.3)  # nothing more comes
    assert ids(inbox.items) == written
    assert [e["action"] for e in inbox.items] == ["create"] * len(written)
    assert states.items[-1] == "open"
