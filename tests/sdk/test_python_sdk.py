"""The Python SDK (sdk/python) against a real server over HTTP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The SDK is used from its source tree, not installed: this tests what the repository holds.
PYTHON_SDK = Path(__file__).resolve().parents[2] / "sdk" / "python"
if str(PYTHON_SDK) not in sys.path:
    sys.path.insert(0, str(PYTHON_SDK))

from baas_client import BaasError, Client, Page  # noqa: E402

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
    user = client.auth.login(*credentials)
    assert user["email"] == credentials[0]
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
