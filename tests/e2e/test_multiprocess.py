"""Server processes on one PostgreSQL database see each other's schema changes at once.

A is `baas web` (granian WSGI, two worker processes), B is `baas serve --no-worker` (the
embedded command, two worker processes of its own).
Each has its own data directory: only the database, Redis and the configured secrets are
shared, as on two machines. Each check is made on the very next request after the change,
and on A in each of its workers, after warming every per-process model cache
(apps/collections/dynamic/cache.py). Which worker answered is read from /proc.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.conftest import on_postgres
from tests.e2e import servers

pytestmark = [pytest.mark.slow, on_postgres]

EMAIL = "ops@example.com"
PASSWORD = "correct-horse-battery-42"
A_WORKERS = 2
TRIES = 200  # fresh connections until every worker of A has answered at least once


@pytest.fixture(scope="module")
def shared_env():
    from baas.config import generate_rsa_private_key, generate_secret_key

    with servers.backing_services() as services:
        yield {
            **services,
            "BAAS_SECRET_KEY": generate_secret_key(),
            "BAAS_JWT_PRIVATE_KEY": generate_rsa_private_key(),
            "BAAS_WEB_WORKERS": str(A_WORKERS),
            "BAAS_WEB_THREADS": "2",
        }


@pytest.fixture(scope="module")
def pair(shared_env, tmp_path_factory):
    """(A, B), both healthy, on one freshly migrated database with one superuser."""
    setup_env = servers.server_env(tmp_path_factory.mktemp("setup"), **shared_env)
    migrated = servers.run_baas("migrate", env=setup_env)
    assert migrated.returncode == 0, migrated.stderr
    created = servers.run_baas(
        "createsuperuser", "--email", EMAIL, "--password", PASSWORD, env=setup_env
    )
    assert created.returncode == 0, created.stderr
    dir_a, dir_b = tmp_path_factory.mktemp("web-a"), tmp_path_factory.mktemp("serve-b")
    a = servers.start_server(
        ["web", "--host", "127.0.0.1"],
        env=servers.server_env(dir_a, **shared_env),
        log_dir=dir_a,
        name="web-a",
    )
    b = servers.start_server(
        ["serve", "--no-worker"],
        env=servers.server_env(dir_b, **shared_env),
        log_dir=dir_b,
        name="serve-b",
    )
    try:
        a.wait_healthy()
        b.wait_healthy()
        yield a, b
    finally:
        a.kill()
        b.kill()


@pytest.fixture(scope="module")
def apis(pair):
    a, b = pair
    return servers.login(a.url, EMAIL, PASSWORD), servers.login(b.url, EMAIL, PASSWORD)


def from_each_worker(server, token: str, method: str, path: str, body=None) -> dict:
    """{worker pid: (status, body)}: the first answer of every worker of A."""
    answers: dict = {}
    for _ in range(TRIES):
        status, payload, pid = servers.request_with_pid(
            server, token, method, path, body
        )
        assert pid is not None, "could not tell which process answered"
        answers.setdefault(pid, (status, payload))
        if len(answers) == A_WORKERS:
            return answers
    raise AssertionError(f"only workers {list(answers)} answered in {TRIES} requests")


def warm(api, path: str, times: int = 3) -> None:
    for _ in range(times):
        response = api.get(path)
        assert response.status_code == 200, response.text


def test_a_runs_two_granian_workers_and_b_runs_no_celery(pair):
    a, b = pair
    granian = [p for p in a.children() if "granian" in p.cmdline]
    assert len(granian) == 1 + A_WORKERS
    assert not any("celery" in p.cmdline for p in b.children())


def test_a_collection_created_through_a_is_usable_through_b_at_once(pair, apis):
    a, _ = pair
    api_a, api_b = apis
    warm(api_b, "/api/v1/collections")
    created = api_a.post(
        "/api/v1/collections",
        {"name": "tasks", "fields": [{"name": "title", "type": "text"}]},
    )
    assert created.status_code == 201, created.text
    record = api_b.post("/api/v1/collections/tasks/records", {"title": "from B"})
    assert record.status_code == 201, record.text
    listed = api_b.get("/api/v1/collections/tasks/records")
    assert [item["title"] for item in listed.json()["items"]] == ["from B"]
    path = f"/api/v1/collections/tasks/records/{record.json()['id']}"
    for status, body in from_each_worker(a, api_a.token, "GET", path).values():
        assert (status, body["title"]) == (200, "from B")


def test_a_field_renamed_through_b_is_renamed_in_as_next_responses(pair, apis):
    a, _ = pair
    api_a, api_b = apis
    record = api_a.post("/api/v1/collections/tasks/records", {"title": "soon renamed"})
    path = f"/api/v1/collections/tasks/records/{record.json()['id']}"
    for status, body in from_each_worker(a, api_a.token, "GET", path).values():
        assert (status, body["title"]) == (200, "soon renamed")  # every cache warm
    fields = api_b.get("/api/v1/collections/tasks").json()["fields"]
    fields[0]["name"] = "headline"
    renamed = api_b.patch("/api/v1/collections/tasks", {"fields": fields})
    assert renamed.status_code == 200, renamed.text

    very_next = api_a.get(path).json()
    assert very_next.get("headline") == "soon renamed", very_next
    assert "title" not in very_next
    for status, body in from_each_worker(a, api_a.token, "GET", path).values():
        assert status == 200
        assert (body.get("headline"), "title" in body) == ("soon renamed", False), body
    created = api_a.post("/api/v1/collections/tasks/records", {"headline": "new name"})
    assert created.status_code == 201, created.text


def test_a_rule_changed_through_a_applies_to_bs_very_next_request(pair, apis):
    api_a, api_b = apis
    created = api_a.post(
        "/api/v1/collections",
        {"name": "memos", "fields": [{"name": "text", "type": "text"}]},
    )
    assert created.status_code == 201, created.text
    assert api_a.post("/api/v1/collections/memos/records", {"text": "hi"}).ok
    guest = servers.Api(api_b.base_url)
    for _ in range(3):  # B's caches (spec, compiled plan) are warm with the null rule
        assert guest.get("/api/v1/collections/memos/records").status_code == 401
    opened = api_a.patch("/api/v1/collections/memos", {"rules": {"list": ""}})
    assert opened.status_code == 200, opened.text
    listed = guest.get("/api/v1/collections/memos/records")
    assert listed.status_code == 200, listed.text
    assert [item["text"] for item in listed.json()["items"]] == ["hi"]
    narrowed = api_a.patch(
        "/api/v1/collections/memos", {"rules": {"list": "text = 'no'"}}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert guest.get("/api/v1/collections/memos/records").json()["items"] == []


def test_a_collection_dropped_through_a_is_404_through_b_at_once(pair, apis):
    a, _ = pair
    api_a, api_b = apis
    warm(api_b, "/api/v1/collections/tasks/records")
    from_each_worker(a, api_a.token, "GET", "/api/v1/collections/tasks/records")
    dropped = api_a.delete("/api/v1/collections/tasks")
    assert dropped.status_code == 204, dropped.text

    listed = api_b.get("/api/v1/collections/tasks/records")
    assert listed.status_code == 404, listed.text
    assert listed.json()["errors"][0]["code"]
    created = api_b.post("/api/v1/collections/tasks/records", {"headline": "x"})
    assert created.status_code == 404, created.text
    path = "/api/v1/collections/tasks/records"
    for status, _ in from_each_worker(a, api_a.token, "GET", path).values():
        assert status == 404


def wait_until_gone(server, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while (left := server.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_killed_supervisor_takes_its_whole_tree_down(pair):
    a, _ = pair
    assert len(a.children()) == 1 + A_WORKERS
    os.kill(a.pid, signal.SIGKILL)  # no chance to clean up: PR_SET_PDEATHSIG must
    a.proc.wait(timeout=5)
    assert wait_until_gone(a) == [], a.logs()


def test_serve_stops_everything_when_one_of_its_children_dies(pair):
    _, b = pair
    # One of the granian main processes (one per REST socket); its workers, and every
    # other child, must go down with it.
    web = next(p for p in b.children() if "granian" in p.cmdline and p.ppid == b.pid)
    os.kill(web.pid, signal.SIGKILL)
    assert b.proc.wait(timeout=10) != 0
    assert "exited with code" in b.logs()
    assert b.leftovers() == []
