"""Delta sync: GET /collections/{name}/changes (API.md "Delta sync") and the change log
behind it (apps.records.changelog): order, tokens, paging, access, tombstones,
retention."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from apps.collections.models import Change, PrunedChanges
from apps.records import changelog
from apps.records.tasks import prune_changes
from tests.conftest import USER_PASSWORD, client_with, login

POSTS = "/api/v1/collections/posts"
OWNER_RULES = {
    "list": "owner = @request.auth.id || public = true",
    "view": "owner = @request.auth.id || public = true",
    "create": "@request.auth.id != '' && @request.body.owner = @request.auth.id",
    "update": "owner = @request.auth.id",
    "delete": "owner = @request.auth.id",
}


def make_collection(admin, name: str, fields: list[dict], rules=None) -> None:
    body = {"name": name, "fields": fields}
    if rules is not None:
        body["rules"] = rules
    response = admin.post("/api/v1/collections", body, format="json")
    assert response.status_code == 201, response.content


def create(client, name: str, **data) -> dict:
    response = client.post(f"/api/v1/collections/{name}/records", data, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def update(client, name: str, record_id: str, **data) -> dict:
    response = client.patch(
        f"/api/v1/collections/{name}/records/{record_id}", data, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def delete(client, name: str, record_id: str) -> None:
    response = client.delete(f"/api/v1/collections/{name}/records/{record_id}")
    assert response.status_code == 204, response.content


def changes(client, name: str = "notes", **params) -> dict:
    response = client.get(f"/api/v1/collections/{name}/changes", params)
    assert response.status_code == 200, response.content
    return response.json()


def drain(client, name: str = "notes", since: str | None = None, limit: int = 500):
    """Every change after `since`, page by page: (changes, next token, pages)."""
    collected, pages = [], 0
    while True:
        params = {"limit": limit} | ({"since": since} if since else {})
        body = changes(client, name, **params)
        collected += body["changes"]
        since, pages = body["next"], pages + 1
        if not body["has_more"]:
            return collected, since, pages


def ops(items: list[dict]) -> list[tuple[str, str]]:
    return [
        (c["op"], c["record"]["id"] if c["op"] == "upsert" else c["id"]) for c in items
    ]


@pytest.fixture
def notes(schema_db, admin):
    make_collection(
        admin,
        "notes",
        [{"name": "title", "type": "text"}, {"name": "n", "type": "number"}],
    )
    return admin


@pytest.fixture
def people(schema_db, make_user, admin):
    """posts with owner rules (tests/rules/test_record_rules.py), alice and bob."""
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    make_collection(
        admin,
        "posts",
        [
            {"name": "title", "type": "text"},
            {"name": "public", "type": "bool"},
            {"name": "owner", "type": "relation", "options": {"collection": "users"}},
            {"name": "secret", "type": "text", "hidden": True},
            {
                "name": "note",
                "type": "text",
                "rules": {"read": "owner = @request.auth.id"},
            },
        ],
        OWNER_RULES,
    )
    return {
        "admin": admin,
        "alice": (alice, client_with(login(alice.email, USER_PASSWORD))),
        "bob": (bob, client_with(login(bob.email, USER_PASSWORD))),
    }


# --- order, tokens, paging --------------------------------------------------------------


def test_creates_updates_and_deletes_appear_in_order(notes):
    admin = notes
    a = create(admin, "notes", title="a")
    b = create(admin, "notes", title="b")
    c = create(admin, "notes", title="c")
    update(admin, "notes", a["id"], title="a2")
    delete(admin, "notes", b["id"])
    body = changes(admin)
    assert body["has_more"] is False
    assert ops(body["changes"]) == [
        ("upsert", c["id"]),
        ("upsert", a["id"]),
        ("delete", b["id"]),
    ]
    # An upsert carries the record as it is now, rendered like GET by id.
    record = body["changes"][1]["record"]
    assert record == admin.get(f"/api/v1/collections/notes/records/{a['id']}").json()
    assert record["title"] == "a2"


def test_resuming_from_next_returns_only_later_changes(notes):
    admin = notes
    first = create(admin, "notes", title="first")
    token = changes(admin)["next"]
    assert changes(admin, since=token)["changes"] == []
    second = create(admin, "notes", title="second")
    update(admin, "notes", first["id"], title="first again")
    body = changes(admin, since=token)
    assert ops(body["changes"]) == [("upsert", second["id"]), ("upsert", first["id"])]
    assert changes(admin, since=body["next"])["changes"] == []


def test_tokens_are_monotonic(notes):
    admin = notes
    tokens = [changes(admin)["next"]]
    for i in range(4):
        create(admin, "notes", title=str(i))
        tokens.append(changes(admin, since=tokens[-1])["next"])
    positions = [changelog.decode_token(t) for t in tokens]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


def test_paging_with_limit_walks_every_change_exactly_once(notes):
    admin = notes
    ids = [create(admin, "notes", title=str(i), n=i)["id"] for i in range(12)]
    for record_id in ids[::3]:
        update(admin, "notes", record_id, n=100)
    delete(admin, "notes", ids[1])
    seen, token, pages = drain(admin, limit=4)
    assert pages > 3
    # Per record, its latest state: each record once, updated ones after the others.
    latest: dict[str, dict | None] = {}
    for change in seen:
        if change["op"] == "upsert":
            latest[change["record"]["id"]] = change["record"]
        else:
            latest[change["id"]] = None
    assert set(latest) == set(ids)
    assert latest[ids[1]] is None
    assert {i: r["n"] for i, r in latest.items() if r} == {
        i: (100 if k % 3 == 0 else k) for k, i in enumerate(ids) if k != 1
    }
    assert changes(admin, since=token) == {
        "changes": [],
        "next": token,
        "has_more": False,
    }


def test_has_more_says_whether_another_page_is_ready(notes):
    admin = notes
    for i in range(3):
        create(admin, "notes", title=str(i))
    first = changes(admin, limit=2)
    assert len(first["changes"]) == 2 and first["has_more"] is True
    second = changes(admin, limit=2, since=first["next"])
    assert len(second["changes"]) == 1 and second["has_more"] is False


def test_several_changes_to_one_record_in_a_page_collapse_to_its_latest_state(notes):
    admin = notes
    record = create(admin, "notes", title="v1")
    other = create(admin, "notes", title="other")
    update(admin, "notes", record["id"], title="v2")
    update(admin, "notes", record["id"], title="v3")
    body = changes(admin)
    assert ops(body["changes"]) == [("upsert", other["id"]), ("upsert", record["id"])]
    assert body["changes"][1]["record"]["title"] == "v3"
    gone = create(admin, "notes", title="short-lived")
    delete(admin, "notes", gone["id"])
    assert ops(changes(admin, since=body["next"])["changes"]) == [
        ("delete", gone["id"])
    ]


def test_a_missing_since_starts_from_the_beginning_and_an_empty_one_too(notes):
    admin = notes
    record = create(admin, "notes", title="x")
    assert ops(changes(admin)["changes"]) == [("upsert", record["id"])]
    assert ops(changes(admin, since="")["changes"]) == [("upsert", record["id"])]


def test_an_empty_collection_gives_a_token_that_sees_the_first_record(notes):
    admin = notes
    body = changes(admin)
    assert body["changes"] == [] and body["has_more"] is False
    record = create(admin, "notes", title="first")
    assert ops(changes(admin, since=body["next"])["changes"]) == [
        ("upsert", record["id"])
    ]


def test_cascaded_deletes_leave_tombstones_in_their_own_collection(schema_db, admin):
    make_collection(admin, "authors", [{"name": "label", "type": "text"}])
    make_collection(
        admin,
        "books",
        [
            {
                "name": "author",
                "type": "relation",
                "options": {"collection": "authors", "cascade_delete": True},
            }
        ],
    )
    author = create(admin, "authors", label="Ann")
    book = create(admin, "books", author=author["id"])
    tokens = {name: changes(admin, name)["next"] for name in ("authors", "books")}
    delete(admin, "authors", author["id"])
    assert ops(changes(admin, "authors", since=tokens["authors"])["changes"]) == [
        ("delete", author["id"])
    ]
    assert ops(changes(admin, "books", since=tokens["books"])["changes"]) == [
        ("delete", book["id"])
    ]


def test_a_rolled_back_write_leaves_no_change(notes):
    admin = notes
    create(admin, "notes", title="x")
    token = changes(admin)["next"]
    response = admin.post(
        "/api/v1/batch",
        {
            "requests": [
                {"method": "POST", "url": "/collections/notes/records", "body": {}},
                {
                    "method": "DELETE",
                    "url": "/collections/notes/records/zzzzzzzzzzzzzzz",
                },
            ]
        },
        format="json",
    )
    assert response.status_code == 404, response.content
    assert changes(admin, since=token)["changes"] == []
    assert Change.objects.exclude(collection_id="users").count() == 1


def test_reading_changes_costs_the_same_queries_for_any_page_size(notes):
    admin = notes
    for i in range(3):
        create(admin, "notes", title=str(i))
    with CaptureQueriesContext(connection) as small:
        changes(admin)
    for i in range(30):
        create(admin, "notes", title=str(i))
    delete(admin, "notes", changes(admin)["changes"][0]["record"]["id"])
    with CaptureQueriesContext(connection) as large:
        body = changes(admin)
    assert len(body["changes"]) == 33
    assert len(large) == len(small)


# --- access -----------------------------------------------------------------------------


def test_owner_rule_keeps_other_users_private_records_out_of_changes(people, anon):
    alice, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    mine = create(alice_client, "posts", title="a", owner=alice.pk)
    create(bob_client, "posts", title="b", owner=bob.pk)
    public = create(bob_client, "posts", title="p", owner=bob.pk, public=True)
    assert ops(changes(alice_client, "posts")["changes"]) == [
        ("upsert", mine["id"]),
        ("upsert", public["id"]),
    ]
    assert ops(changes(anon, "posts")["changes"]) == [("upsert", public["id"])]
    assert len(changes(people["admin"], "posts")["changes"]) == 3


def test_a_record_that_becomes_private_disappears_from_later_pages(people):
    _, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    post = create(bob_client, "posts", title="p", owner=bob.pk, public=True)
    body = changes(alice_client, "posts")
    assert ops(body["changes"]) == [("upsert", post["id"])]
    update(bob_client, "posts", post["id"], public=False, title="now private")
    later = changes(alice_client, "posts", since=body["next"])
    assert later["changes"] == []
    assert "now private" not in str(changes(alice_client, "posts"))
    update(bob_client, "posts", post["id"], public=True)
    again = changes(alice_client, "posts", since=later["next"])
    assert ops(again["changes"]) == [("upsert", post["id"])]


def test_a_delete_reaches_only_those_who_could_view_the_record(people, anon):
    alice, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    private = create(bob_client, "posts", title="b", owner=bob.pk)
    public = create(bob_client, "posts", title="p", owner=bob.pk, public=True)
    mine = create(alice_client, "posts", title="a", owner=alice.pk)
    clients = {"alice": alice_client, "bob": bob_client, "anon": anon}
    tokens = {who: changes(c, "posts")["next"] for who, c in clients.items()}
    delete(bob_client, "posts", private["id"])
    delete(bob_client, "posts", public["id"])
    delete(alice_client, "posts", mine["id"])
    seen = {
        who: ops(changes(c, "posts", since=tokens[who])["changes"])
        for who, c in clients.items()
    }
    assert seen["bob"] == [("delete", private["id"]), ("delete", public["id"])]
    assert seen["alice"] == [("delete", public["id"]), ("delete", mine["id"])]
    assert seen["anon"] == [("delete", public["id"])]
    admin_seen = ops(changes(people["admin"], "posts")["changes"])
    assert [op for op, _ in admin_seen] == ["delete"] * 3


def test_a_delete_is_judged_on_the_record_as_it_was_just_before(people):
    _, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    post = create(bob_client, "posts", title="p", owner=bob.pk, public=True)
    token = changes(alice_client, "posts")["next"]
    update(bob_client, "posts", post["id"], public=False)
    delete(bob_client, "posts", post["id"])
    # Private when deleted: alice could not view it then.
    assert changes(alice_client, "posts", since=token)["changes"] == []


def test_hidden_fields_and_field_read_rules_apply_to_records_in_changes(people):
    alice, alice_client = people["alice"]
    bob, bob_client = people["bob"]
    admin = people["admin"]
    mine = create(alice_client, "posts", title="a", owner=alice.pk, note="mine")
    theirs = create(bob_client, "posts", title="b", owner=bob.pk, public=True, note="n")
    update(admin, "posts", mine["id"], secret="s1")
    by_id = {
        c["record"]["id"]: c["record"]
        for c in changes(alice_client, "posts")["changes"]
    }
    assert by_id[mine["id"]]["note"] == "mine"
    assert "note" not in by_id[theirs["id"]]
    assert all("secret" not in record for record in by_id.values())
    everything = changes(admin, "posts")["changes"]
    assert {c["record"]["secret"] for c in everything} == {"s1", None}


def test_view_rules_on_multiple_relations_and_dates_judge_tombstones(
    schema_db, admin, make_user
):
    alice, bob = make_user("alice@example.com"), make_user("bob@example.com")
    rule = "members ?= @request.auth.id && starts > '2000-01-01T00:00:00Z'"
    make_collection(
        admin,
        "events",
        [
            {
                "name": "members",
                "type": "relation",
                "options": {"collection": "users", "multiple": True},
            },
            {"name": "starts", "type": "date"},
            {"name": "payload", "type": "json"},
        ],
        {"list": rule, "view": rule, "create": None, "update": None, "delete": None},
    )
    alice_client = client_with(login(alice.email, USER_PASSWORD))
    bob_client = client_with(login(bob.email, USER_PASSWORD))
    future = "2030-05-01T10:00:00Z"
    both = create(
        admin, "events", members=[alice.pk, bob.pk], starts=future, payload={"a": 1}
    )
    only_bob = create(admin, "events", members=[bob.pk], starts=future)
    old = create(admin, "events", members=[alice.pk], starts="1999-01-01T00:00:00Z")
    tokens = {"alice": changes(alice_client, "events")["next"]}
    tokens["bob"] = changes(bob_client, "events")["next"]
    for record in (both, only_bob, old):
        delete(admin, "events", record["id"])
    assert ops(changes(alice_client, "events", since=tokens["alice"])["changes"]) == [
        ("delete", both["id"])
    ]
    assert ops(changes(bob_client, "events", since=tokens["bob"])["changes"]) == [
        ("delete", both["id"]),
        ("delete", only_bob["id"]),
    ]
    snapshot = Change.objects.get(record_id=both["id"], op="delete").snapshot
    assert sorted(snapshot[f"f_{field_id(admin, 'events', 'members')}"]) == sorted(
        [alice.pk, bob.pk]
    )


def field_id(admin, collection: str, name: str) -> str:
    fields = admin.get(f"/api/v1/collections/{collection}").json()["fields"]
    return next(f["id"] for f in fields if f["name"] == name)


@pytest.fixture
def locked(schema_db, admin):
    """A collection whose view rule is null: superusers and keys only."""
    make_collection(
        admin,
        "locked",
        [{"name": "title", "type": "text"}],
        {"list": None, "view": None, "create": None, "update": None, "delete": None},
    )
    create(admin, "locked", title="x")
    return admin


@pytest.mark.parametrize(
    "who, status",
    [
        ("anonymous", 401),
        ("app user", 403),
        ("key without records:read", 403),
        ("key with records:read", 200),
        ("superuser", 200),
    ],
)
def test_who_may_read_changes_of_a_collection_with_a_null_view_rule(
    locked, anon, user_client, key_client, who, status
):
    client = {
        "anonymous": anon,
        "app user": user_client,
        "key without records:read": key_client("records:write", "schema"),
        "key with records:read": key_client("records:read"),
        "superuser": locked,
    }[who]
    response = client.get("/api/v1/collections/locked/changes")
    assert response.status_code == status, response.content
    if status == 200:
        assert len(response.json()["changes"]) == 1
    else:
        assert "changes" not in response.json()


def test_an_unknown_collection_is_404(schema_db, admin):
    response = admin.get("/api/v1/collections/nope/changes")
    assert response.status_code == 404


# --- tokens: durability, hostile input --------------------------------------------------


def test_a_token_survives_a_restart(notes):
    from django.core.cache import cache as django_cache

    from apps.collections.dynamic import cache

    admin = notes
    create(admin, "notes", title="before")
    token = changes(admin)["next"]
    # Another process, or this one restarted: nothing cached, a new connection.
    cache._specs.clear()
    cache._models.clear()
    django_cache.clear()
    connection.close()
    after = create(admin, "notes", title="after")
    assert ops(changes(admin, since=token)["changes"]) == [("upsert", after["id"])]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "abc",
        "MS4wLjQ=",  # padded: not what the server hands out
        "MS4wLjQ\x00",
        "\x00",
        "é",
        "x" * 65,
        " MS4wLjQ",
        _b64("1.-1.4"),
        _b64("1.0.-4"),
        _b64("2.0.4"),
        _b64("1.0"),
        _b64("1.0.4.5"),
        _b64("1.00.4"),
        _b64("1.0.4 "),
        _b64("1.0.99999999999999999999"),
        _b64(f"1.{2**63}.0"),
        _b64("1.0.1e3"),
        _b64("1.0.٣"),  # a non-ASCII digit
    ],
)
def test_a_garbled_or_forged_token_is_400(notes, token):
    response = notes.get("/api/v1/collections/notes/changes", {"since": token})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0] == {
        "code": "invalid_token",
        "message": "The change token is not valid.",
        "param": "since",
    }


@pytest.mark.parametrize(
    "limit", ["0", "-1", "501", "abc", "1e3", "1.5", "\x00", "9" * 400, " "]
)
def test_a_bad_limit_is_400(notes, limit):
    response = notes.get("/api/v1/collections/notes/changes", {"limit": limit})
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["param"] == "limit"


def test_a_token_ahead_of_this_database_asks_for_a_resync(notes):
    admin = notes
    create(admin, "notes", title="x")
    txid, seq = changelog.decode_token(changes(admin)["next"])
    ahead = changelog.encode_token((txid + 10**9, 0) if txid else (0, seq + 10**6))
    response = admin.get("/api/v1/collections/notes/changes", {"since": ahead})
    assert response.status_code == 410
    assert response.json()["errors"][0]["code"] == "resync_required"


def test_a_token_of_one_collection_reads_another_without_error(schema_db, admin):
    make_collection(admin, "a", [{"name": "t", "type": "text"}])
    make_collection(admin, "b", [{"name": "t", "type": "text"}])
    create(admin, "a", t="x")
    token = changes(admin, "a")["next"]
    later = create(admin, "b", t="y")
    assert ops(changes(admin, "b", since=token)["changes"]) == [("upsert", later["id"])]


# --- retention --------------------------------------------------------------------------


def _age(days: int) -> None:
    Change.objects.update(created_at=timezone.now() - dt.timedelta(days=days))


def test_a_token_from_before_pruned_tombstones_is_410_resync_required(notes):
    admin = notes
    keep = create(admin, "notes", title="keep")
    gone = create(admin, "notes", title="gone")
    old_token = changes(admin)["next"]
    delete(admin, "notes", gone["id"])
    after_delete = changes(admin, since=old_token)["next"]
    _age(31)
    with override_settings(BAAS_CHANGES_RETENTION_DAYS=30):
        prune_changes()
    assert not Change.objects.filter(op="delete").exists()
    response = admin.get("/api/v1/collections/notes/changes", {"since": old_token})
    assert response.status_code == 410
    assert response.json()["errors"][0] == {
        "code": "resync_required",
        "message": "Changes since this token are no longer kept; sync again from the "
        "start.",
        "param": "since",
    }
    # A token after the pruned tombstone still works, and so does a sync from the start.
    assert changes(admin, since=after_delete)["changes"] == []
    assert ops(changes(admin)["changes"]) == [("upsert", keep["id"])]


def test_tombstones_within_the_retention_are_kept(notes):
    admin = notes
    gone = create(admin, "notes", title="gone")
    token = changes(admin)["next"]
    delete(admin, "notes", gone["id"])
    _age(29)
    with override_settings(BAAS_CHANGES_RETENTION_DAYS=30):
        prune_changes()
    assert ops(changes(admin, since=token)["changes"]) == [("delete", gone["id"])]


def test_pruning_drops_superseded_upserts_but_keeps_every_live_record(notes):
    admin = notes
    ids = [create(admin, "notes", title=str(i))["id"] for i in range(5)]
    for record_id in ids[:3]:
        update(admin, "notes", record_id, title="again")
    token = changes(admin)["next"]
    _age(400)  # old, but the latest row of a live record is never pruned
    before = ops(changes(admin)["changes"])
    assert prune_changes() == 3
    assert Change.objects.exclude(collection_id="users").count() == 5
    assert ops(changes(admin)["changes"]) == before
    assert changes(admin, since=token)["changes"] == []
    assert not PrunedChanges.objects.exists()  # nothing a token holder needed is gone


def test_pruning_forgets_dropped_collections(notes):
    admin = notes
    create(admin, "notes", title="x")
    assert Change.objects.exclude(collection_id="users").count() == 1
    assert admin.delete("/api/v1/collections/notes").status_code == 204
    prune_changes()
    assert Change.objects.exclude(collection_id="users").count() == 0


def test_the_migration_logs_records_written_before_the_change_log(notes):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    admin = notes
    ids = {create(admin, "notes", title=str(i))["id"] for i in range(3)}
    Change.objects.all().delete()
    migration = importlib.import_module("apps.collections.migrations.0003_change_log")
    migration.log_existing_records(apps, SimpleNamespace(connection=connection))
    assert {c["record"]["id"] for c in changes(admin)["changes"]} == ids


def test_pruning_is_in_the_beat_schedule():
    from baas.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "baas.collections.prune_changes" in tasks


# --- the OpenAPI document -----------------------------------------------------------------


def test_changes_are_described_in_the_openapi_document(notes, anon):
    document = notes.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/collections/notes/changes"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"since", "limit"}
    assert {"200", "400", "410"} <= set(operation["responses"])
    generic = anon.get("/api/v1/openapi.json").json()["paths"]
    assert "get" in generic["/api/v1/collections/{name}/changes"]


def test_accounts_made_outside_the_records_api_reach_the_users_log(db, make_user):
    user = make_user("signup@example.com")
    assert Change.objects.filter(collection_id="users", record_id=user.pk).exists()
