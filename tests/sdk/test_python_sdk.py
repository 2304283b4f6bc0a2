"""The Python SDK (sdk/python) against a real server over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The SDK is used from its source tree, not installed: this tests what the repository holds.
PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import (  # noqa: E402
    BaasError,
    ChangesPage,
    Client,
    Page,
    new_idempotency_key,
)

POSTS = "sdk_py_posts"
FIELDS = [
    {"name": "title", "type": "text", "required": True},
    {"name": "rank", "type": "number"},
]


@pytest.fixture
def connect(server_url):
    """connect(**options) -> a Client for the live server, closed after the test.

    Closing matters: an open keep-alive connection holds a live-server thread, which on
    SQLite shares the test database connection and must finish while the server runs.
    """
    clients: list[Client] = []

    def make(base_url: str | None = None, **options) -> Client:
        client = Client(base_url or server_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(connect, credentials) -> Client:
    client = connect()
    client.auth.login(*credentials)
    return client


@pytest.fixture
def posts(client):
    client.collections.create({"name": POSTS, "fields": FIELDS})
    return client.collection(POSTS)


def test_login_returns_the_user_and_stores_both_tokens(connect, credentials):
    seen = []
    client = connect(on_tokens=lambda a, r: seen.append((a, r)))
    result = client.auth.login(*credentials)
    assert result.signed_in and result.user["email"] == credentials[0]
    assert client.auth.access_token and client.auth.refresh_token
    assert seen == [(client.auth.access_token, client.auth.refresh_token)]


def test_a_wrong_password_raises_and_stores_nothing(connect, credentials):
    client = connect()
    with pytest.raises(BaasError) as caught:
        client.auth.login(credentials[0], "not the password")
    assert caught.value.status == 400
    assert caught.value.code
    assert client.auth.access_token is None


def test_base_url_may_carry_the_api_prefix(connect, server_url, credentials):
    client = connect(server_url.rstrip("/") + "/api/v1/")
    client.auth.login(*credentials)
    assert isinstance(client.collections.list(), list)


def test_collections_are_created_read_updated_and_deleted(client):
    created = client.collections.create({"name": POSTS, "fields": FIELDS})
    assert [f["name"] for f in created["fields"]] == ["title", "rank"]
    assert client.collections.get(POSTS)["id"] == created["id"]
    assert POSTS in [c["name"] for c in client.collections.list()]

    renamed = [dict(created["fields"][0], name="headline"), created["fields"][1]]
    updated = client.collections.update(POSTS, {"fields": renamed})
    assert [f["name"] for f in updated["fields"]] == ["headline", "rank"]

    assert client.collections.delete(POSTS) is None
    with pytest.raises(BaasError) as caught:
        client.collections.get(POSTS)
    assert caught.value.status == 404
    assert caught.value.code == "collection_not_found"


def test_schema_export_and_a_dry_run_import_that_applies_nothing(client, posts):
    document = client.schema.export()
    assert POSTS in [c["name"] for c in document["collections"]]
    draft = {
        "collections": [
            {"name": "sdk_py_draft", "fields": [{"name": "x", "type": "text"}]}
        ]
    }

    result = client.schema.import_(draft, dry_run=True)
    assert result["dry_run"] is True
    assert result["changes"][0]["action"] == "create"
    with pytest.raises(BaasError):
        client.collections.get("sdk_py_draft")

    applied = client.schema.import_(draft)
    assert applied["dry_run"] is False
    assert client.collections.get("sdk_py_draft")["name"] == "sdk_py_draft"


def test_a_record_goes_through_create_get_update_and_delete(posts):
    record = posts.create({"title": "hello", "rank": 1})
    assert record["title"] == "hello"
    assert {"id", "created", "updated"} <= record.keys()
    assert posts.get(record["id"]) == record

    changed = posts.update(record["id"], {"title": "changed"})
    assert (changed["title"], changed["rank"]) == ("changed", 1)

    assert posts.delete(record["id"]) is None
    with pytest.raises(BaasError) as caught:
        posts.get(record["id"])
    assert caught.value.status == 404


def test_a_validation_error_carries_code_and_param(posts):
    with pytest.raises(BaasError) as caught:
        posts.create({"rank": 2})
    error = caught.value
    assert error.status == 400
    assert (error.code, error.param) == ("required", "title")
    assert error.errors[0]["message"] == error.message
    assert "required" in str(error)


def test_list_pages_by_cursor_and_number_and_iterate_walks_every_page(posts):
    made = [posts.create({"title": f"p{i}", "rank": i})["id"] for i in range(5)]
    newest_first = made[::-1]

    first = posts.list(limit=2, count=True)
    assert isinstance(first, Page)
    assert (len(first.items), first.total) == (2, 5)
    assert first.next_cursor
    second = posts.list(limit=2, cursor=first.next_cursor)
    assert [r["id"] for r in second.items] == newest_first[2:4]
    last = posts.list(limit=2, page=3)
    assert [r["id"] for r in last.items] == newest_first[4:]
    everything = posts.list()
    assert (everything.next_cursor, everything.total) == (None, None)

    assert [r["id"] for r in posts.iterate(limit=2)] == newest_first
    assert [
        r["id"] for r in posts.iterate(limit=2, cursor=first.next_cursor)
    ] == newest_first[2:]

    with pytest.raises(BaasError) as caught:
        posts.list(limit=501)
    assert caught.value.param == "limit"


def test_refresh_rotates_and_an_expired_access_token_is_refreshed_once(client, posts):
    old_refresh = client.auth.refresh_token
    tokens = client.auth.refresh()
    assert tokens["refresh_token"] != old_refresh
    assert client.auth.access_token == tokens["access_token"]

    client.auth.set_tokens("not-a-jwt", tokens["refresh_token"])
    assert posts.list().items == []
    assert client.auth.access_token not in (None, "not-a-jwt")
    assert client.auth.refresh_token != tokens["refresh_token"]


def test_a_spent_refresh_token_surfaces_the_401_and_clears_the_tokens(
    connect, credentials
):
    other = connect()
    other.auth.login(*credentials)
    spent = other.auth.refresh_token
    other.auth.refresh()

    stale = connect(token="not-a-jwt", refresh_token=spent)
    with pytest.raises(BaasError) as caught:
        stale.collections.list()
    assert caught.value.status == 401
    assert (stale.auth.access_token, stale.auth.refresh_token) == (None, None)


def test_no_credentials_is_a_401_and_refresh_without_a_token_says_so(connect):
    anonymous = connect()
    with pytest.raises(BaasError) as caught:
        anonymous.collections.list()
    assert caught.value.status == 401
    with pytest.raises(BaasError) as caught:
        anonymous.auth.refresh()
    assert (caught.value.status, caught.value.code) == (0, "no_refresh_token")


def test_an_api_key_manages_schema_and_records(connect, service_key):
    service = connect(api_key=service_key)
    service.collections.create({"name": POSTS, "fields": FIELDS})
    record = service.collection(POSTS).create({"title": "from a key"})
    assert service.collection(POSTS).get(record["id"])["title"] == "from a key"


def test_an_unreachable_server_is_a_baas_error_with_status_0():
    with (
        Client("http://127.0.0.1:9", timeout=2) as client,
        pytest.raises(BaasError) as caught,
    ):
        client.collections.list()
    assert (caught.value.status, caught.value.code) == (0, "network_error")


# --- query parameters, ETags, idempotency, delta sync, batch ------------------------------

AUTHORS = "sdk_py_authors"
OPEN_RULES = {"list": "", "view": "", "create": "", "update": "", "delete": ""}


@pytest.fixture
def library(client):
    """Authors and posts that point at them (`author` relation), rules open to all."""
    client.collections.create(
        {
            "name": AUTHORS,
            "fields": [
                {"name": "name", "type": "text", "required": True},
                {"name": "email", "type": "email"},
            ],
            "rules": OPEN_RULES,
        }
    )
    client.collections.create(
        {
            "name": POSTS,
            "fields": [
                *FIELDS,
                {"name": "status", "type": "text"},
                {
                    "name": "author",
                    "type": "relation",
                    "options": {"collection": AUTHORS},
                },
            ],
            "rules": OPEN_RULES,
        }
    )
    return client.collection(AUTHORS), client.collection(POSTS)


def test_filter_sort_fields_expand_and_count_round_trip(library):
    authors, posts = library
    ada = authors.create({"name": "Ada", "email": "ada@example.com"})
    bob = authors.create({"name": "Bob", "email": "bob@example.com"})
    for title, rank, status, author in [
        ("b", 2, "open", ada),
        ("a", 2, "open", bob),
        ("c", 5, "closed", ada),
        ("d", 1, "open", ada),
    ]:
        posts.create(
            {"title": title, "rank": rank, "status": status, "author": author["id"]}
        )

    page = posts.list(
        filter='status = "open" && rank >= 2', sort="-rank,title", count=True
    )
    assert [r["title"] for r in page.items] == ["a", "b"]
    assert page.total == 2
    by_list = posts.list(filter='status = "open"', sort=["rank", "-title"])
    assert [r["title"] for r in by_list.items] == ["d", "b", "a"]

    sparse = posts.list(
        filter='author.name = "Ada"',
        sort="title",
        fields=["title", "author.name"],
        expand="author",
    )
    assert [r["title"] for r in sparse.items] == ["b", "c", "d"]
    first = sparse.items[0]
    assert set(first) == {"id", "title", "expand"}
    assert first["expand"]["author"] == {"id": ada["id"], "name": "Ada"}

    walked = posts.iterate(sort="title", fields="title", limit=1)
    assert [r["title"] for r in walked] == ["a", "b", "c", "d"]
    assert [r["title"] for r in posts.iterate(filter="rank > 1", sort="-title")] == [
        "c",
        "b",
        "a",
    ]

    one = posts.get(first["id"], expand=["author"], fields="title,author.email")
    assert one == {
        "id": first["id"],
        "title": "b",
        "expand": {"author": {"id": ada["id"], "email": "ada@example.com"}},
    }
    assert posts.get(first["id"], expand="author")["expand"]["author"]["name"] == "Ada"

    with pytest.raises(BaasError) as caught:
        posts.list(filter="rank >")
    assert (caught.value.status, caught.value.code) == (400, "invalid_filter")
    assert caught.value.param == "filter"


def test_etags_make_reads_conditional_and_writes_optimistic(posts):
    record = posts.create({"title": "x", "rank": 1})
    read = posts.get_with_etag(record["id"])
    assert read.record == record
    assert read.etag and not read.not_modified

    unchanged = posts.get_with_etag(record["id"], if_none_match=read.etag)
    assert unchanged.not_modified
    assert (unchanged.record, unchanged.etag) == (None, read.etag)

    written = posts.update_with_etag(record["id"], {"rank": 2}, if_match=read.etag)
    assert written.record["rank"] == 2
    assert written.etag and written.etag != read.etag
    assert posts.get_with_etag(record["id"], if_none_match=read.etag).record == (
        written.record
    )

    with pytest.raises(BaasError) as caught:
        posts.update(record["id"], {"rank": 3}, if_match=read.etag)
    assert (caught.value.status, caught.value.code) == (412, "precondition_failed")
    with pytest.raises(BaasError) as caught:
        posts.delete(record["id"], if_match=read.etag)
    assert (caught.value.status, caught.value.code) == (412, "precondition_failed")
    assert posts.get(record["id"])["rank"] == 2

    again = posts.update(record["id"], {"rank": 4}, if_match=written.etag)
    assert again["rank"] == 4
    latest = posts.get_with_etag(record["id"]).etag
    assert posts.delete(record["id"], if_match=latest) is None
    with pytest.raises(BaasError) as caught:
        posts.get(record["id"])
    assert caught.value.status == 404


def test_an_etag_from_a_compressed_answer_works_with_if_match(posts):
    # A body over 200 bytes: the answers are gzip-compressed, as most real ones are.
    record = posts.create({"title": "x" * 300, "rank": 1})
    read = posts.get_with_etag(record["id"])
    assert posts.get_with_etag(record["id"], if_none_match=read.etag).not_modified
    written = posts.update_with_etag(record["id"], {"rank": 2}, if_match=read.etag)
    assert written.record["rank"] == 2
    posts.delete(record["id"], if_match=written.etag)


def test_the_same_idempotency_key_creates_one_record(client, posts):
    key = new_idempotency_key()
    first = posts.create({"title": "once"}, idempotency_key=key)
    second = posts.create({"title": "once"}, idempotency_key=key)
    assert second == first
    assert posts.list(count=True).total == 1

    path = f"/collections/{POSTS}/records"
    replay = client.send("POST", path, json={"title": "once"}, idempotency_key=key)
    assert (replay.status, replay.replayed, replay.body) == (201, True, first)
    fresh = client.send("POST", path, json={"title": "twice"}, idempotency_key="k-2")
    assert (fresh.status, fresh.replayed) == (201, False)

    with pytest.raises(BaasError) as caught:
        posts.create({"title": "another body"}, idempotency_key=key)
    assert (caught.value.status, caught.value.code) == (409, "idempotency_key_reused")

    changed = posts.update(first["id"], {"rank": 1}, idempotency_key="u-1")
    assert posts.update(first["id"], {"rank": 1}, idempotency_key="u-1") == changed
    posts.delete(first["id"], idempotency_key="d-1")
    assert posts.delete(first["id"], idempotency_key="d-1") is None  # replayed 204


def test_changes_and_sync_walk_every_page_from_a_token(posts):
    assert posts.changes() == ChangesPage(changes=[], next=posts.changes().next)
    kept = posts.create({"title": "kept"})
    b = posts.create({"title": "b"})

    # An app's local copy, kept by id.
    local: dict[str, dict] = {}
    seen: list[dict] = []

    def apply(change):
        seen.append(change)
        if change["op"] == "upsert":
            local[change["record"]["id"]] = change["record"]
        else:
            local.pop(change["id"], None)

    start = posts.sync(None, apply)
    assert start
    assert set(local) == {kept["id"], b["id"]}

    a = posts.create({"title": "a"})
    c = posts.create({"title": "c"})
    posts.update(a["id"], {"title": "a2"})
    posts.delete(b["id"])

    first = posts.changes(start, limit=1)
    assert first.has_more and len(first.changes) == 1
    seen.clear()
    token = posts.sync(start, apply, limit=2)  # three pages
    assert token and token != start
    assert {(ch["op"], ch.get("id") or ch["record"]["id"]) for ch in seen} == {
        ("upsert", a["id"]),
        ("upsert", c["id"]),
        ("delete", b["id"]),
    }
    assert seen[-1] == {"op": "delete", "id": b["id"]}
    assert {k: r["title"] for k, r in local.items()} == {
        kept["id"]: "kept",
        a["id"]: "a2",
        c["id"]: "c",
    }

    # Nothing new: no change is reported (the token may still move on PostgreSQL: it
    # follows the cluster's transaction horizon, which other writes advance).
    nothing = []
    assert posts.sync(token, nothing.append)
    assert nothing == []
    # From the beginning: every record as it is now.
    everything: list[dict] = []
    posts.sync(None, everything.append)
    upserts = {ch["record"]["id"] for ch in everything if ch["op"] == "upsert"}
    assert upserts == set(local)

    with pytest.raises(BaasError) as caught:
        posts.changes("not-a-token")
    assert (caught.value.status, caught.value.code, caught.value.param) == (
        400,
        "invalid_token",
        "since",
    )


def test_a_token_from_before_pruned_deletes_raises_resync_required(posts):
    import datetime as dt

    from django.utils import timezone

    from apps.records import changelog

    gone = posts.create({"title": "gone"})
    old = posts.changes().next
    posts.delete(gone["id"])
    changelog.prune(now=timezone.now() + dt.timedelta(days=365))

    with pytest.raises(BaasError) as caught:
        posts.sync(old, lambda change: None)
    assert (caught.value.status, caught.value.code) == (410, "resync_required")
    assert posts.sync(None, lambda change: None)  # starting over works


def test_batch_runs_every_operation_or_none(client, posts):
    existing = posts.create({"title": "existing", "rank": 1})
    doomed = posts.create({"title": "doomed"})

    responses = client.batch(
        [
            posts.op_create({"title": "new", "rank": 7}),
            posts.op_update(existing["id"], {"rank": 2}),
            posts.op_delete(doomed["id"]),
            posts.op_get(existing["id"], fields="rank"),
            posts.op_list(filter="rank >= 2", sort="rank", fields=["title"]),
        ]
    )
    assert [r["status"] for r in responses] == [201, 200, 204, 200, 200]
    created = responses[0]["body"]
    assert (created["title"], created["rank"]) == ("new", 7)
    assert responses[1]["body"]["rank"] == 2
    assert responses[2]["body"] is None
    assert responses[3]["body"] == {"id": existing["id"], "rank": 2}
    assert [r["title"] for r in responses[4]["body"]["items"]] == ["existing", "new"]
    assert posts.get(created["id"])["title"] == "new"

    before = posts.list(count=True).total
    with pytest.raises(BaasError) as caught:
        client.batch(
            [
                posts.op_create({"title": "rolled back"}),
                posts.op_update(existing["id"], {"rank": 99}),
                posts.op_create({"rank": 3}),
            ]
        )
    error = caught.value
    assert (error.status, error.code, error.param) == (
        400,
        "required",
        "requests.2.title",
    )
    assert posts.list(count=True).total == before
    assert posts.get(existing["id"])["rank"] == 2

    with pytest.raises(BaasError) as caught:
        client.batch([posts.op_delete("nosuchrecord123")])
    assert (caught.value.status, caught.value.param) == (404, "requests.0")

    key = new_idempotency_key()
    once = client.batch(
        [posts.op_create({"title": "batched once"})], idempotency_key=key
    )
    twice = client.batch(
        [posts.op_create({"title": "batched once"})], idempotency_key=key
    )
    assert once == twice
    assert len(posts.list(filter='title = "batched once"').items) == 1


# --- routes of hooks modules -----------------------------------------------------------


def test_fn_calls_a_route_of_the_servers_hooks_modules(client, connect, credentials):
    from apps.hooks import registry
    from baas.hooks import route

    with registry.isolated():

        @route("POST", "/echo/<str:word>", auth="user")
        def echo(request, word):
            return {"you": request.user.email, "word": word, "body": request.data}

        answer = client.fn("post", "echo/hi", json={"n": 1})
        assert answer == {"you": credentials[0], "word": "hi", "body": {"n": 1}}
        with pytest.raises(BaasError) as missing:
            client.fn("GET", "/no/such/route")
        assert missing.value.status == 404
        with pytest.raises(BaasError) as anonymous:
            connect().fn("POST", "/echo/x")
        assert anonymous.value.status == 401
