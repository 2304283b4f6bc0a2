"""Idempotency-Key: stored, replayed, scoped per caller, sealed at rest, exactly one effect."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from apps.collections.dynamic import cache
from apps.collections.models import Collection
from apps.collections.services import get_spec
from apps.core.idempotency import actor_scope, derive_keys
from apps.core.models import IdempotencyRecord
from apps.core.tasks import prune_idempotency_records
from apps.records import records
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, client_with, login, on_postgres

NOTES = "/api/v1/collections/notes/records"
KEY = "3f1c9a52-8f0e-4c7b-9a53-1d2e4f5a6b7c"


def create_notes(admin, **field) -> None:
    fields = [{"name": "title", "type": "text", **field}]
    response = admin.post(
        "/api/v1/collections", {"name": "notes", "fields": fields}, format="json"
    )
    assert response.status_code == 201, response.content


def titles() -> list[str]:
    """What the table holds, read directly (not through the API)."""
    spec = get_spec("notes")
    column = spec.field_by_name("title").attname
    return sorted(cache.model_for(spec).objects.values_list(column, flat=True))


def post(client, body, key=KEY, url=NOTES):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def notes(schema_db, admin):
    create_notes(admin)


# --- replay -----------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_and_body_replays_the_first_response(notes, admin):
    first = post(admin, {"title": "once"})
    again = post(admin, {"title": "once"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert titles() == ["once"]
    assert IdempotencyRecord.objects.count() == 1


def test_a_retry_of_a_delete_replays_204_instead_of_404(notes, admin):
    created = admin.post(NOTES, {"title": "doomed"}, format="json").json()
    url = f"{NOTES}/{created['id']}"
    first = admin.delete(url, HTTP_IDEMPOTENCY_KEY=KEY)
    again = admin.delete(url, HTTP_IDEMPOTENCY_KEY=KEY)
    assert (first.status_code, again.status_code) == (204, 204)
    assert again.content == b"" and again["Idempotent-Replayed"] == "true"
    assert admin.delete(url).status_code == 404  # without the key it runs again


def test_the_same_key_with_another_body_is_409_and_changes_nothing(notes, admin):
    assert post(admin, {"title": "first"}).status_code == 201
    other = post(admin, {"title": "second"})
    assert other.status_code == 409
    assert other.json() == {
        "status": 409,
        "errors": [
            {
                "code": "idempotency_key_reused",
                "message": "This Idempotency-Key was used for another request.",
                "param": "Idempotency-Key",
            }
        ],
    }
    assert titles() == ["first"]


def test_the_same_key_on_another_path_or_method_is_409(notes, admin):
    created = post(admin, {"title": "a"}).json()
    elsewhere = admin.patch(
        f"{NOTES}/{created['id']}",
        {"title": "a"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=KEY,
    )
    assert elsewhere.status_code == 409
    with_query = post(admin, {"title": "a"}, url=NOTES + "?x=1")
    assert with_query.status_code == 409
    assert titles() == ["a"]


def test_a_client_error_is_stored_and_replayed(notes, admin):
    first = post(admin, {"title": 5})
    again = post(admin, {"title": 5})
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"


def test_a_conflict_is_not_stored_so_the_retry_runs_again(schema_db, admin):
    create_notes(admin, unique=True)
    taken = admin.post(NOTES, {"title": "taken"}, format="json").json()
    assert post(admin, {"title": "taken"}).status_code == 409
    admin.delete(f"{NOTES}/{taken['id']}")
    retry = post(admin, {"title": "taken"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry


def test_requests_without_the_header_and_reads_are_untouched(notes, admin):
    assert admin.post(NOTES, {"title": "a"}, format="json").status_code == 201
    assert admin.post(NOTES, {"title": "a"}, format="json").status_code == 201
    listed = admin.get(NOTES, HTTP_IDEMPOTENCY_KEY=KEY)
    assert listed.status_code == 200 and "Idempotent-Replayed" not in listed
    assert IdempotencyRecord.objects.count() == 0
    assert titles() == ["a", "a"]


# --- the key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "nul\x00"])
def test_an_invalid_key_is_400_naming_the_header_and_runs_nothing(notes, admin, key):
    response = post(admin, {"title": "never"}, key=key)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["code"], error["param"]) == ("invalid", "Idempotency-Key")
    assert titles() == []


@pytest.mark.parametrize("key", ["k", "x" * 255, " ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"])
def test_any_printable_ascii_key_of_1_to_255_characters_is_accepted(notes, admin, key):
    assert post(admin, {"title": "ok"}, key=key).status_code == 201
    assert post(admin, {"title": "ok"}, key=key)["Idempotent-Replayed"] == "true"


# --- scope: keys belong to one caller ---------------------------------------------------------


def test_different_callers_with_the_same_key_do_not_see_each_others_responses(
    notes, admin, key_client
):
    writer = key_client("records:write")
    mine = post(admin, {"title": "same"})
    theirs = post(writer, {"title": "same"})
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert titles() == ["same", "same"]


def test_anonymous_callers_do_not_reach_an_authenticated_callers_response(
    notes, admin, anon
):
    assert post(admin, {"title": "secret"}).status_code == 201
    refused = post(anon, {"title": "secret"})
    assert refused.status_code == 401
    assert "Idempotent-Replayed" not in refused


def test_a_refreshed_access_token_is_the_same_caller(notes, admin):
    first = post(admin, {"title": "once"})
    token = login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert token not in admin._credentials["HTTP_AUTHORIZATION"]
    again = post(client_with(token), {"title": "once"})
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert titles() == ["once"]


def test_invalid_credentials_are_a_scope_of_their_own(db, rf):
    request = rf.post("/api/v1/x", HTTP_AUTHORIZATION="Bearer garbage")
    anonymous = rf.post("/api/v1/x")
    assert actor_scope(request) != actor_scope(anonymous)
    assert derive_keys(actor_scope(request), KEY) != derive_keys(
        actor_scope(anonymous), KEY
    )


# --- failures ---------------------------------------------------------------------------------


def test_a_server_error_is_not_stored_and_its_effect_is_rolled_back(
    notes, admin, monkeypatch
):
    real_create = records.record_create

    def create_then_fail(**kwargs):
        real_create(**kwargs)
        raise RuntimeError("boom after the insert")

    monkeypatch.setattr(records, "record_create", create_then_fail)
    failed = post(admin, {"title": "lost"})
    assert failed.status_code == 500
    assert titles() == [] and IdempotencyRecord.objects.count() == 0

    monkeypatch.setattr(records, "record_create", real_create)
    retry = post(admin, {"title": "lost"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert titles() == ["lost"]


def test_under_asgi_the_view_runs_inside_the_same_transaction(
    notes, admin, monkeypatch
):
    """Django's ASGI handler runs sync views in a worker thread: it must be the
    middleware's thread (one connection), or the rollback of a 5xx would miss the view."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    headers = {
        "Authorization": admin._credentials["HTTP_AUTHORIZATION"],
        "Idempotency-Key": KEY,
    }

    def send(title):
        return async_to_sync(AsyncClient().post)(
            NOTES, {"title": title}, content_type="application/json", headers=headers
        )

    real_create = records.record_create

    def create_then_fail(**kwargs):
        real_create(**kwargs)
        raise RuntimeError("boom after the insert")

    monkeypatch.setattr(records, "record_create", create_then_fail)
    lost = send("lost")
    assert lost.status_code == 500, lost.content
    assert titles() == []
    monkeypatch.setattr(records, "record_create", real_create)
    assert send("kept").status_code == 201
    replayed = send("kept")
    assert replayed["Idempotent-Replayed"] == "true"
    assert titles() == ["kept"]


# --- at rest ----------------------------------------------------------------------------------


def stored_bytes() -> bytes:
    rows = IdempotencyRecord.objects.values_list("key_hash", "request_hash", "response")
    return b"".join(k.encode() + r.encode() + bytes(b) for k, r, b in rows)


def test_stored_responses_reveal_no_tokens_keys_or_bodies(db, superuser):
    client = APIClient()
    credentials = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    logged_in = post(client, credentials, url="/api/v1/auth/login", key="login-1")
    assert logged_in.status_code == 200, logged_in.content
    refresh_token = logged_in.json()["meta"]["refresh_token"]

    body = {"refresh_token": refresh_token}
    refreshed = post(client, body, url="/api/v1/tokens/refresh", key="refresh-1")
    assert refreshed.status_code == 200, refreshed.content
    replayed = post(client, body, url="/api/v1/tokens/refresh", key="refresh-1")
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json() == refreshed.json()  # rotated once, not twice
    new_refresh = refreshed.json()["data"]["refresh_token"]
    still_valid = client.post(
        "/api/v1/tokens/refresh", {"refresh_token": new_refresh}, format="json"
    )
    assert still_valid.status_code == 200, still_valid.content

    stored = stored_bytes()
    assert IdempotencyRecord.objects.count() == 2
    for secret in (
        logged_in.json()["meta"]["access_token"],
        refresh_token,
        new_refresh,
        refreshed.json()["data"]["access_token"],
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
        "login-1",
        "refresh-1",
    ):
        for fragment in (secret, secret[:24], secret[-24:]):
            assert fragment.encode() not in stored, fragment


def test_a_record_is_sealed_to_its_key(notes, admin):
    post(admin, {"title": "sealed with the key"})
    (row,) = IdempotencyRecord.objects.all()
    assert b"sealed with the key" not in bytes(row.response)
    assert len(row.key_hash) == len(row.request_hash) == 64


# --- expiry -----------------------------------------------------------------------------------


def test_an_expired_response_is_ignored_and_pruned(notes, admin):
    post(admin, {"title": "old"})
    ttl = dt.timedelta(seconds=86400)
    IdempotencyRecord.objects.update(
        created=timezone.now() - ttl - dt.timedelta(seconds=5)
    )
    retry = post(admin, {"title": "old"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert titles() == ["old", "old"]

    post(admin, {"title": "fresh"}, key="another")
    IdempotencyRecord.objects.filter(pk=IdempotencyRecord.objects.first().pk).update(
        created=timezone.now() - ttl * 2
    )
    assert prune_idempotency_records() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_the_ttl_is_a_setting_of_at_least_a_day(notes, admin):
    with override_settings(BAAS_IDEMPOTENCY_TTL=3 * 86400):
        post(admin, {"title": "kept"})
        IdempotencyRecord.objects.update(created=timezone.now() - dt.timedelta(days=2))
        assert post(admin, {"title": "kept"})["Idempotent-Replayed"] == "true"
        assert prune_idempotency_records() == 0


def test_pruning_is_in_the_beat_schedule():
    from baas.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "baas.core.prune_idempotency_records" in tasks


# --- other endpoints --------------------------------------------------------------------------


def test_a_schema_change_with_a_key_runs_once(schema_db, admin):
    body = {"name": "notes", "fields": [{"name": "title", "type": "text"}]}
    first = post(admin, body, url="/api/v1/collections")
    again = post(admin, body, url="/api/v1/collections")
    assert first.status_code == again.status_code == 201, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Collection.objects.filter(name="notes").count() == 1
    assert admin.post(NOTES, {"title": "x"}, format="json").status_code == 201


def test_a_batch_with_a_key_runs_once(notes, admin):
    body = {"requests": [{"method": "POST", "url": NOTES, "body": {"title": "b"}}]}
    first = post(admin, body, url="/api/v1/batch")
    again = post(admin, body, url="/api/v1/batch")
    assert first.status_code == again.status_code == 200, first.content
    assert again.json() == first.json()
    assert titles() == ["b"]


def test_signup_with_a_key_creates_one_account(db, anon, settings):
    from apps.accounts.models import User

    # (Without verification the new account is signed in: a 200 worth storing.)
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    settings.ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
    body = {"email": "new@example.com", "password": "A-long-pass-phrase-1"}
    first = post(anon, body, url="/api/v1/auth/signup")
    again = post(anon, body, url="/api/v1/auth/signup")
    assert first.status_code == again.status_code, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert User.objects.filter(email="new@example.com").count() == 1


# --- concurrency: exactly one effect ----------------------------------------------------------

RETRIES = 8


def in_progress(response: requests.Response) -> bool:
    return (
        response.status_code == 409
        and response.json()["errors"][0]["code"] == "idempotency_in_progress"
    )


@on_postgres
def test_concurrent_retries_have_exactly_one_effect(
    schema_db, live_server, admin, monkeypatch
):
    """Real concurrency: each request on its own server thread and database connection."""
    from apps.accounts.apikeys import apikey_create

    create_notes(admin)
    _, key = apikey_create(name="concurrency", scopes=["records:write"])
    real_create = records.record_create
    entered = threading.Event()

    def slow_create(**kwargs):
        record = real_create(**kwargs)
        entered.set()
        time.sleep(0.5)  # keep the first attempt in flight while the retries arrive
        return record

    monkeypatch.setattr(records, "record_create", slow_create)
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": KEY}

    def attempt(_):
        return requests.post(
            live_server.url + NOTES, json={"title": "once"}, headers=headers, timeout=30
        )

    barrier = threading.Barrier(RETRIES)

    def together(i):
        barrier.wait()
        return attempt(i)

    with ThreadPoolExecutor(RETRIES) as pool:
        responses = list(pool.map(together, range(RETRIES)))
    later = attempt(None)
    assert entered.is_set()

    created = [r for r in responses if r.status_code == 201]
    assert all(r.status_code == 201 or in_progress(r) for r in responses), [
        (r.status_code, r.text) for r in responses
    ]
    assert any(in_progress(r) for r in responses)  # the retries overlapped the first
    assert len([r for r in created if "Idempotent-Replayed" not in r.headers]) == 1
    assert later.status_code == 201 and later.headers["Idempotent-Replayed"] == "true"
    ids = {r.json()["id"] for r in [*created, later]}
    assert len(ids) == 1
    assert titles() == ["once"]
    assert IdempotencyRecord.objects.count() == 1


@pytest.mark.slow
def test_concurrent_retries_across_server_processes_have_exactly_one_effect(
    tmp_path,
):
    """`baas web` with two worker processes on one database (SQLite file or PostgreSQL):
    the same batch of 100 creates, sent 8 times at once, is applied once."""
    from tests.e2e import servers

    with servers.backing_services() as services:
        env = servers.server_env(tmp_path, **services)
        for command in (
            ["migrate"],
            ["createsuperuser", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
        ):
            done = servers.run_baas(*command, env=env)
            assert done.returncode == 0, done.stderr
        web = servers.start_server(
            ["web", "--host", "127.0.0.1", "--workers", "2", "--threads", "4"],
            env=env,
            log_dir=tmp_path,
            name="web",
        )
        try:
            web.wait_healthy()
            api = servers.login(web.url, ADMIN_EMAIL, ADMIN_PASSWORD)
            fields = [{"name": "title", "type": "text"}]
            made = api.post("/api/v1/collections", {"name": "notes", "fields": fields})
            assert made.status_code == 201, made.text
            body = {
                "requests": [
                    {"method": "POST", "url": NOTES, "body": {"title": f"n{i}"}}
                    for i in range(100)
                ]
            }
            headers = {"Authorization": f"Bearer {api.token}", "Idempotency-Key": KEY}
            barrier = threading.Barrier(RETRIES)

            def attempt(_):
                barrier.wait()
                return requests.post(
                    web.url + "/api/v1/batch", json=body, headers=headers, timeout=60
                )

            with ThreadPoolExecutor(RETRIES) as pool:
                responses = list(pool.map(attempt, range(RETRIES)))
            done = [r for r in responses if r.status_code == 200]
            assert all(r.status_code == 200 or in_progress(r) for r in responses), [
                (r.status_code, r.text[:200]) for r in responses
            ]
            assert len([r for r in done if "Idempotent-Replayed" not in r.headers]) == 1
            assert len({r.content for r in done}) == 1
            listed = api.get(NOTES + "?count=true&limit=500").json()
            assert listed["total"] == 100
        finally:
            web.kill()
