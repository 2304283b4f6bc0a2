"""The audit log: schema, rule, channel and API key changes, superuser logins and account
deletions are written by the services that make them, in their transaction, never with a
secret; GET /api/v1/audit serves them to superusers only, filtered and paged; old entries
are pruned."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import transaction
from openapi_spec_validator import validate

from apps.accounts.apikeys import SCOPES, apikey_create, apikey_revoke
from apps.hooks import audit
from apps.hooks.models import AuditEntry
from tests.accounts.test_account_deletion import reauthenticated
from tests.accounts.test_mfa import (
    enable_totp,
    pending_session_token,
    second_factor,
    totp_code,
)
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD, login

AUDIT = "/api/v1/audit"
COLLECTIONS = "/api/v1/collections"
CHANNELS = "/api/v1/channels"
KEYS = "/api/v1/apikeys"
USERS = "/api/v1/collections/users/records"
IMPORT = "/api/v1/schema/import"

POSTS = {
    "name": "posts",
    "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text"}],
}


def entries(action: str | None = None) -> list[AuditEntry]:
    found = AuditEntry.objects.order_by("at", "id")
    return list(found.filter(action=action) if action else found)


def only(action: str) -> AuditEntry:
    found = entries(action)
    assert len(found) == 1, [e.action for e in entries()]
    return found[0]


def assert_actor(entry: AuditEntry, user) -> None:
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == (
        "user",
        user.pk,
        user.email,
    )


def create_posts(client, **extra) -> dict:
    response = client.post(COLLECTIONS, {**POSTS, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def field_id(definition: dict, name: str) -> str:
    return next(f["id"] for f in definition["fields"] if f["name"] == name)


# --- schema changes -----------------------------------------------------------------------


def test_creating_a_collection_records_who_what_and_its_definition(
    schema_db, superuser, admin
):
    created = create_posts(admin)

    entry = only("collection.create")
    assert_actor(entry, superuser)
    assert (entry.target_kind, entry.target_id, entry.target_name) == (
        "collection",
        created["id"],
        "posts",
    )
    assert entry.before is None
    assert entry.after == created  # the schema API's own representation
    assert entry.diff["name"] == {"before": None, "after": "posts"}
    assert entry.client_address == "127.0.0.1"


def test_renaming_a_field_records_before_after_and_the_diff(schema_db, admin):
    created = create_posts(admin)
    title = field_id(created, "title")
    fields = [
        {**f, "name": "heading"} if f["id"] == title else f for f in created["fields"]
    ]

    response = admin.patch(f"{COLLECTIONS}/posts", {"fields": fields}, format="json")

    assert response.status_code == 200, response.content
    entry = only("collection.update")
    assert entry.before == created
    assert entry.after == response.json()
    assert entry.diff[f"fields.{title}.name"] == {
        "before": "title",
        "after": "heading",
    }
    assert not any(path.startswith("rules") for path in entry.diff)


def test_a_rule_change_is_found_by_filtering_on_collection_rules(schema_db, admin):
    create_posts(admin)

    response = admin.patch(
        f"{COLLECTIONS}/posts", {"rules": {"list": "", "view": ""}}, format="json"
    )

    assert response.status_code == 200, response.content
    entry = only("collection.rules")
    assert entry.diff["rules.list"] == {"before": None, "after": ""}
    assert entry.diff["rules.view"] == {"before": None, "after": ""}
    listed = admin.get(AUDIT, {"action": "collection.rules"}).json()["items"]
    assert [e["id"] for e in listed] == [entry.id]


def test_a_field_rule_change_is_a_rule_change_too(schema_db, admin):
    created = create_posts(admin)
    body = field_id(created, "body")
    fields = [
        {**f, "rules": {"read": "@request.auth.id != ''"}} if f["id"] == body else f
        for f in created["fields"]
    ]

    response = admin.patch(f"{COLLECTIONS}/posts", {"fields": fields}, format="json")

    assert response.status_code == 200, response.content
    entry = only("collection.rules")
    assert entry.diff[f"fields.{body}.rules.read"] == {
        "before": None,
        "after": "@request.auth.id != ''",
    }


def test_a_change_that_changes_nothing_is_not_an_entry(schema_db, admin):
    create_posts(admin)

    assert admin.patch(f"{COLLECTIONS}/posts", {}, format="json").status_code == 200

    assert entries("collection.update") == entries("collection.rules") == []


def test_dropping_a_collection_keeps_its_last_definition(schema_db, superuser, admin):
    created = create_posts(admin)

    assert admin.delete(f"{COLLECTIONS}/posts").status_code == 204

    entry = only("collection.delete")
    assert_actor(entry, superuser)
    assert (entry.target_id, entry.target_name) == (created["id"], "posts")
    assert entry.before == created and entry.after is None


def test_an_api_key_is_named_as_the_actor_of_its_changes(schema_db, key_client):
    create_posts(key_client("schema"))

    key = only("apikey.create")  # (the fixture's key, made with no actor)
    entry = only("collection.create")
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == (
        "apikey",
        key.target_id,
        "test key",
    )


def test_a_schema_change_that_rolls_back_leaves_no_entry(schema_db, superuser):
    from apps.collections.dynamic.ddl import schema_transaction
    from apps.collections.services import collection_create

    # (the outer transaction as schema_import opens it: SQLite needs its FK checks off)
    with pytest.raises(RuntimeError), schema_transaction():
        collection_create(actor=superuser, data=POSTS)
        assert len(entries("collection.create")) == 1  # written, in the transaction
        raise RuntimeError("a later step failed")

    assert entries() == []


def test_an_import_that_fails_part_way_leaves_no_entry(schema_db, admin):
    document = {
        "collections": [
            POSTS,
            {"name": "broken", "fields": [{"name": "x", "type": "nonsense"}]},
        ]
    }

    response = admin.post(IMPORT, document, format="json")

    assert response.status_code == 400, response.content
    assert [e.action for e in entries()] == ["superuser.login"]


def test_an_import_is_one_entry_beside_an_entry_per_collection(
    schema_db, superuser, admin
):
    document = {"collections": [{**POSTS, "rules": {"list": ""}}]}

    response = admin.post(IMPORT, document, format="json")

    assert response.status_code == 200, response.content
    entry = only("schema.import")
    assert_actor(entry, superuser)
    assert entry.target_kind == "schema"
    assert entry.after == {"changes": response.json()["changes"]}
    assert only("collection.create").target_name == "posts"
    assert only("collection.rules").diff["rules.list"]["after"] == ""


def test_a_dry_run_import_leaves_no_entry(schema_db, admin):
    response = admin.post(
        f"{IMPORT}?dry_run=1", {"collections": [POSTS]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert [e.action for e in entries()] == ["superuser.login"]


def test_channel_configuration_is_audited_and_rule_changes_are_channel_rules(
    db, superuser, admin
):
    created = admin.post(
        CHANNELS,
        {"name": "room-*", "rules": {"subscribe": "", "publish": None}},
        format="json",
    )
    assert created.status_code == 201, created.content
    changed = admin.patch(
        f"{CHANNELS}/room-*", {"rules": {"publish": ""}}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert (
        admin.patch(f"{CHANNELS}/room-*", {"presence": True}, format="json").status_code
        == 200
    )
    assert admin.delete(f"{CHANNELS}/room-*").status_code == 204

    create = only("channel.create")
    assert_actor(create, superuser)
    assert (create.target_kind, create.target_name) == ("channel", "room-*")
    assert create.after == {
        "name": "room-*",
        "rules": {"subscribe": "", "publish": None},
        "presence": False,
    }
    assert only("channel.rules").diff == {
        "rules.publish": {"before": None, "after": ""}
    }
    assert only("channel.update").diff == {"presence": {"before": False, "after": True}}
    deleted = only("channel.delete")
    assert deleted.target_id == create.target_id and deleted.after is None


# --- API keys -----------------------------------------------------------------------------


def test_creating_and_revoking_a_key_is_audited_without_its_secret(
    db, superuser, admin
):
    response = admin.post(KEYS, {"name": "ci", "scopes": ["schema"]}, format="json")
    assert response.status_code == 201, response.content
    key = response.json()
    assert admin.delete(f"{KEYS}/{key['id']}").status_code == 204
    assert admin.delete(f"{KEYS}/{key['id']}").status_code == 204  # (already revoked)

    created = only("apikey.create")
    assert_actor(created, superuser)
    assert (created.target_kind, created.target_id, created.target_name) == (
        "apikey",
        key["id"],
        "ci",
    )
    assert created.after["prefix"] == key["prefix"]
    assert created.after["scopes"] == ["schema"]
    revoked = only("apikey.revoke")
    assert_actor(revoked, superuser)
    assert revoked.diff["revoked_at"]["before"] is None
    assert revoked.diff["revoked_at"]["after"] is not None
    assert set(revoked.diff) == {"revoked_at"}


def test_keys_made_on_the_command_line_are_made_by_system(db):
    key, _ = apikey_create(name="cron", scopes=["records:read"])
    apikey_revoke(key_id=key.pk)

    for action in ("apikey.create", "apikey.revoke"):
        entry = only(action)
        assert (entry.actor_kind, entry.actor_id) == ("system", "")
        assert entry.client_address is None


def test_a_key_that_rolls_back_leaves_no_entry(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        apikey_create(name="doomed", scopes=["schema"])
        raise RuntimeError("the caller's transaction fails")

    assert entries() == []


# --- logins and account deletions ---------------------------------------------------------


def test_a_superuser_login_is_audited_and_an_app_user_login_is_not(
    db, superuser, app_user
):
    login(ADMIN_EMAIL, ADMIN_PASSWORD)
    login(app_user.email, USER_PASSWORD)

    entry = only("superuser.login")
    assert_actor(entry, superuser)
    assert (entry.target_kind, entry.target_id) == ("user", superuser.pk)
    assert entry.after == {"methods": ["password"]}
    assert entry.client_address == "127.0.0.1"


def test_a_superuser_login_with_a_second_factor_is_audited_when_it_completes(
    db, superuser, admin
):
    secret = enable_totp(admin, ADMIN_PASSWORD)
    AuditEntry.objects.all().delete()

    session_token = pending_session_token(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert entries() == []  # the password alone signs nobody in
    done = second_factor(session_token, totp_code(secret))

    assert done.status_code == 200, done.content
    entry = only("superuser.login")
    assert_actor(entry, superuser)
    assert "mfa:totp" in entry.after["methods"]


def test_a_user_deleting_their_account_is_audited_as_that_user(db, app_user):
    client, _ = reauthenticated(app_user.email)

    assert client.delete("/api/v1/account").status_code == 204

    entry = only("account.delete")
    assert_actor(entry, app_user)
    assert (entry.target_kind, entry.target_id, entry.target_name) == (
        "user",
        app_user.pk,
        app_user.email,
    )
    assert entry.before["email"] == app_user.email
    assert entry.client_address == "127.0.0.1"


def test_a_superuser_deleting_a_users_record_is_an_account_deletion(
    db, admin, app_user
):
    assert admin.delete(f"{USERS}/{app_user.pk}").status_code == 204

    entry = only("account.delete")
    assert (entry.target_kind, entry.target_id) == ("user", app_user.pk)


def test_a_superuser_deleting_a_users_record_is_named_as_its_actor(
    db, superuser, admin, app_user
):
    assert admin.delete(f"{USERS}/{app_user.pk}").status_code == 204

    assert_actor(only("account.delete"), superuser)


def test_no_entry_ever_holds_a_secret(db, superuser, admin, app_user):
    from apps.accounts.models import ApiKey

    made = admin.post(KEYS, {"name": "ci", "scopes": ["schema"]}, format="json").json()
    key_hash = ApiKey.objects.get(pk=made["id"]).key_hash
    assert admin.delete(f"{KEYS}/{made['id']}").status_code == 204
    token = login(ADMIN_EMAIL, ADMIN_PASSWORD)
    password_hash = type(app_user).objects.get(pk=app_user.pk).password
    client, meta = reauthenticated(app_user.email)
    assert client.delete("/api/v1/account").status_code == 204

    stored = json.dumps([audit.entry_to_json(e) for e in entries()])
    assert {e.action for e in entries()} >= {
        "apikey.create",
        "apikey.revoke",
        "superuser.login",
        "account.delete",
    }
    secrets = [made["key"], key_hash, ADMIN_PASSWORD, USER_PASSWORD, password_hash]
    secrets += [token, meta["access_token"], meta["refresh_token"]]
    for secret in secrets:
        assert secret not in stored
    assert '"password":' not in stored and '"key_hash":' not in stored


def test_secret_looking_values_are_redacted_whoever_records_them(db):
    entry = audit.record(
        actor=None,
        action="webhook.create",
        target=audit.Target("webhook", "w1", "orders"),
        after={
            "url": "https://example.com",
            "secret": "whsec_abc",
            "nested": {"token": "t"},
        },
    )

    assert entry.after == {
        "url": "https://example.com",
        "secret": audit.REDACTED,
        "nested": {"token": audit.REDACTED},
    }
    assert "whsec_abc" not in json.dumps(entry.diff)


# --- who may read it ----------------------------------------------------------------------


@pytest.fixture
def actors(db, superuser, admin, user_client, key_client, anon):
    return {
        "anonymous": anon,
        "app user": user_client,
        "key schema": key_client("schema"),
        "key with every scope": key_client(*sorted(SCOPES)),
        "superuser": admin,
    }


MATRIX = [
    ("anonymous", 401),
    ("app user", 403),
    ("key schema", 403),
    ("key with every scope", 403),
    ("superuser", 200),
]


@pytest.mark.parametrize("actor, status", MATRIX)
def test_only_superusers_list_the_audit_log(actors, actor, status):
    response = actors[actor].get(AUDIT)

    assert response.status_code == status, response.content
    body = response.json()
    if status == 200:
        assert body["items"] and body["next_cursor"] is None
    else:
        assert body["status"] == status and "items" not in body


@pytest.mark.parametrize("actor, status", MATRIX)
def test_only_superusers_read_an_entry(actors, actor, status):
    entry = entries()[0]

    response = actors[actor].get(f"{AUDIT}/{entry.id}")

    assert response.status_code == status, response.content
    if status == 200:
        assert response.json() == audit.entry_to_json(entry)
    else:
        assert entry.id not in response.content.decode()


def test_an_unknown_entry_is_404_in_the_envelope(db, admin):
    for entry_id in ("nosuchentry1234", "bad%00id"):
        response = admin.get(f"{AUDIT}/{entry_id}")
        assert response.status_code == 404
        assert response.json()["errors"][0]["code"] == "not_found"


# --- filters and pages --------------------------------------------------------------------

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def log(db, superuser, admin):
    """Seven entries at known times (T0 + n minutes), besides the admin's login."""
    from apps.accounts.apikeys import KeyPrincipal

    key = KeyPrincipal(key_id="key123", name="deploy", scopes=frozenset({"schema"}))
    made = [
        (superuser, "collection.create", audit.Target("collection", "c1", "posts")),
        (superuser, "collection.rules", audit.Target("collection", "c1", "posts")),
        (key, "collection.update", audit.Target("collection", "c2", "tags")),
        (key, "collection.delete", audit.Target("collection", "c2", "tags")),
        (None, "apikey.create", audit.Target("apikey", "k9", "cron")),
        (superuser, "apikey.revoke", audit.Target("apikey", "k9", "cron")),
        (None, "account.delete", audit.Target("user", "u1", "gone@example.com")),
    ]
    ids = []
    for minute, (actor, action, target) in enumerate(made):
        entry = audit.record(actor=actor, action=action, target=target)
        AuditEntry.objects.filter(pk=entry.pk).update(at=T0 + timedelta(minutes=minute))
        ids.append(entry.pk)
    AuditEntry.objects.filter(action="superuser.login").delete()
    return ids


def listed(client, **params) -> list[str]:
    response = client.get(AUDIT, params)
    assert response.status_code == 200, response.content
    return [e["id"] for e in response.json()["items"]]


def test_entries_come_newest_first(log, admin):
    assert listed(admin) == log[::-1]


@pytest.mark.parametrize(
    "params, picked",
    [
        ({"action": "collection.rules"}, [1]),
        ({"action": "collection.*"}, [0, 1, 2, 3]),
        ({"action": "apikey.*"}, [4, 5]),
        ({"action": "collection"}, []),
        ({"actor": "key123"}, [2, 3]),
        ({"actor": "apikey:key123"}, [2, 3]),
        ({"actor": "system"}, [4, 6]),
        ({"target": "posts"}, [0, 1]),
        ({"target": "c2"}, [2, 3]),
        ({"target": "collection:tags"}, [2, 3]),
        ({"target": "apikey:tags"}, []),
        ({"target": "user:gone@example.com"}, [6]),
        ({"since": "2026-05-01T12:05:00Z"}, [5, 6]),
        ({"until": "2026-05-01T12:02:00Z"}, [0, 1]),
        (
            {"since": "2026-05-01T14:01:00+02:00", "until": "2026-05-01T12:03:00Z"},
            [1, 2],
        ),
        (
            {
                "action": "collection.*",
                "actor": "apikey:key123",
                "since": "2026-05-01T12:03:00.000Z",
            },
            [3],
        ),
    ],
)
def test_filters_pick_the_matching_entries(log, admin, params, picked):
    assert listed(admin, **params) == [log[i] for i in reversed(picked)]


def test_the_actor_filter_takes_a_users_id(log, admin, superuser):
    assert listed(admin, actor=f"user:{superuser.pk}") == [log[5], log[1], log[0]]
    assert listed(admin, actor=superuser.pk) == [log[5], log[1], log[0]]


def test_pages_follow_the_cursor_through_every_entry_once(log, admin):
    # Two entries at the same millisecond: the id breaks the tie.
    AuditEntry.objects.filter(pk=log[3]).update(at=T0 + timedelta(minutes=2))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = admin.get(AUDIT, params).json()
        seen += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert sorted(seen) == sorted(log) and len(seen) == len(set(seen))
    times = [AuditEntry.objects.get(pk=i).at for i in seen]
    assert times == sorted(times, reverse=True)


def test_the_cursor_keeps_to_the_filters(log, admin):
    first = admin.get(AUDIT, {"action": "collection.*", "limit": 3}).json()
    rest = admin.get(
        AUDIT, {"action": "collection.*", "limit": 3, "cursor": first["next_cursor"]}
    ).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [
        log[3],
        log[2],
        log[1],
        log[0],
    ]
    assert rest["next_cursor"] is None


def test_listing_costs_the_same_queries_however_many_entries(
    log, admin, django_assert_num_queries
):
    with django_assert_num_queries(2):  # the bearer's user and session; the page
        admin.get(AUDIT, {"limit": 500})
    for _ in range(20):
        audit.record(actor=None, action="apikey.create", target=audit.Target("apikey"))
    with django_assert_num_queries(2):
        admin.get(AUDIT, {"limit": 500})


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "param, value",
    [
        ("action", "Collection.create"),
        ("action", "collection."),
        ("action", "*"),
        ("action", "collection.*.x"),
        ("actor", "robot:abc"),
        ("actor", "user:"),
        ("actor", "a b"),
        ("target", "collection:"),
        ("target", "x\x00y"),
        ("since", "yesterday"),
        ("since", "2026-05-01T12:00:00"),
        ("since", "2026-05-01"),
        ("until", "2026-13-01T12:00:00Z"),
        ("until", "2026-05-01T25:00:00Z"),
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "ten"),
        ("cursor", "not a cursor"),
        ("cursor", _cursor(["2026-05-01T12:00:00.000Z"])),
        ("cursor", _cursor(["yesterday", "abc"])),
        ("cursor", _cursor(["2026-05-01T12:00:00.000Z", "a\x00b"])),
        ("cursor", _cursor({"at": 1})),
    ],
)
def test_a_bad_parameter_is_400_naming_it(db, admin, param, value):
    response = admin.get(AUDIT, {param: value})

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400
    assert body["errors"][0]["param"] == param


# --- retention ----------------------------------------------------------------------------


def test_pruning_removes_only_entries_older_than_the_retention(db, settings):
    settings.BAAS_AUDIT_RETENTION_DAYS = 30
    now = datetime(2026, 6, 1, tzinfo=dt_timezone.utc)
    ages = {"ancient": 400, "old": 31, "edge": 29, "new": 0}
    made = {}
    for name, days in ages.items():
        entry = audit.record(
            actor=None, action="apikey.create", target=audit.Target("apikey", name)
        )
        AuditEntry.objects.filter(pk=entry.pk).update(at=now - timedelta(days=days))
        made[name] = entry.pk

    assert audit.prune(now=now) == 2
    assert set(AuditEntry.objects.values_list("target_id", flat=True)) == {
        "edge",
        "new",
    }
    assert audit.prune(now=now) == 0


def test_the_default_retention_is_a_year(db):
    from django.conf import settings

    assert settings.BAAS_AUDIT_RETENTION_DAYS == 365


def test_pruning_is_a_task_on_the_beat_schedule(db):
    from baas.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "baas.hooks.prune_audit" in tasks
    app.loader.import_default_modules()  # what a worker imports as it starts
    assert app.tasks["baas.hooks.prune_audit"].apply().get() == 0


# --- the OpenAPI document -----------------------------------------------------------------


def test_the_audit_endpoints_are_in_the_openapi_document(db, anon):
    response = anon.get("/api/v1/openapi.json")
    document = response.json()
    validate(document)
    listing = document["paths"]["/api/v1/audit"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"action", "actor", "target", "since", "until", "limit", "cursor"} <= names
    assert {"200", "400", "401", "403"} <= set(listing["responses"])
    assert "get" in document["paths"]["/api/v1/audit/{entry_id}"]
