"""`baas serve` as a new user runs it: one command, then the API, the worker, and a clean stop.

One server per module; on the PostgreSQL profile it runs on a fresh database and its own
Redis database (production backing services), on SQLite it is the embedded default.
"""

from __future__ import annotations

import signal
import time

import pytest
import requests

from tests.e2e import servers
from tests.e2e.servers import (
    EMAIL,
    PASSWORD,
    READY_LINE,
    create_superuser,
    hinted_createsuperuser,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-data")


@pytest.fixture(scope="module")
def env(data_dir):
    with servers.backing_services() as services:
        yield servers.server_env(data_dir, **services)


@pytest.fixture(scope="module")
def served(env, data_dir):
    server = servers.start_server(["serve"], env=env, log_dir=data_dir, name="serve")
    try:
        server.wait_for_output(READY_LINE)
        server.wait_healthy()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def notes(served, env):
    """createsuperuser (while the server runs), login, a collection and a record: over HTTP."""
    create_superuser(served, env)
    api = servers.login(servers.url_in(served.stdout()), EMAIL, PASSWORD)
    collection = api.post(
        "/api/v1/collections",
        {
            "name": "notes",
            "fields": [{"name": "title", "type": "text", "required": True}],
        },
    )
    assert collection.status_code == 201, collection.text
    record = api.post("/api/v1/collections/notes/records", {"title": "first note"})
    assert record.status_code == 201, record.text
    return api, record.json()


def test_serve_prints_its_url_and_how_to_create_a_superuser(served):
    out = served.stdout()
    assert servers.url_in(out) == served.url
    assert "No superuser yet" in out
    assert hinted_createsuperuser(out)[1:4] == ["createsuperuser", "--email", EMAIL]


def test_serve_runs_the_web_server_a_worker_and_beat(served):
    commands = [p.cmdline for p in served.children()]
    assert any(
        "granian --interface wsgi baas.wsgi:application" in c for c in commands
    ), commands
    assert any("celery -A baas" in c and " worker " in c for c in commands), commands
    assert any("celery -A baas" in c and " beat " in c for c in commands), commands


def test_a_superuser_created_from_the_cli_logs_in_and_stores_a_record(notes):
    api, record = notes
    fetched = api.get(f"/api/v1/collections/notes/records/{record['id']}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["title"] == "first note"
    listed = api.get("/api/v1/collections/notes/records")
    assert [item["id"] for item in listed.json()["items"]] == [record["id"]]


def test_readyz_reports_database_cache_and_broker(served):
    response = requests.get(f"{served.url}/readyz", timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": "ok",
        "broker": "ok",
    }


def test_the_embedded_worker_runs_a_queued_task(served, env, data_dir):
    target = data_dir / "jobs" / "touched"
    code = f"from apps.core.tasks import touch; touch.delay({str(target)!r})"
    enqueue = servers.run_baas("shell", "-c", code, env=env)
    assert enqueue.returncode == 0, enqueue.stderr
    deadline = time.monotonic() + 30
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.exists(), f"the worker never ran the task\n{served.logs()}"
    worker_pid = int(target.read_text())
    assert worker_pid in {p.pid for p in served.children()}, (
        "ran by a worker outside `serve`"
    )


def test_sigterm_stops_serve_and_every_child_within_10_seconds(served):
    children = served.children()
    assert len(children) >= 3, [c.cmdline for c in children]
    elapsed = served.stop(signal.SIGTERM, timeout=10)
    assert elapsed < 10
    assert served.proc.returncode == 0, served.logs()
    assert served.leftovers() == []


def test_ctrl_c_stops_a_restarted_serve_that_kept_its_data(
    served, notes, env, data_dir
):
    if served.running():  # this test run alone
        served.stop(signal.SIGTERM)
    api, record = notes
    again = servers.start_server(
        ["serve"], env=env, log_dir=data_dir, name="serve-again"
    )
    try:
        out = again.wait_for_output(READY_LINE)
        assert "No superuser yet" not in out
        again.wait_healthy()
        api = servers.login(again.url, EMAIL, PASSWORD)
        fetched = api.get(f"/api/v1/collections/notes/records/{record['id']}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["title"] == "first note"
        assert len(again.children()) >= 3
        # Ctrl-C in a terminal signals the whole foreground process group at once.
        elapsed = again.stop(signal.SIGINT, group=True, timeout=10)
        assert elapsed < 10
        assert again.leftovers() == []
    finally:
        again.kill()
