"""Hooks modules in a running `baas serve`: loaded by every process, a `before` hook in
the web process, an `after` hook retried by the real worker until it succeeds, a route,
a schedule made at run time run by the real beat; a broken module stops start-up."""

from __future__ import annotations

import subprocess
import textwrap
import time

import pytest
import requests

from tests.e2e import servers

pytestmark = pytest.mark.slow

HOOKS = textwrap.dedent(
    '''
    from pathlib import Path

    from baas import records
    from baas.hooks import Reject, after, before, route, task

    OUT = Path(__file__).resolve().parents[1] / "effects"
    OUT.mkdir(exist_ok=True)


    @before("create", "notes")
    def no_shouting(event):
        if event.data.get("text", "").isupper():
            raise Reject("shouting", "No shouting.", param="text")


    @after("create", "notes")
    def flaky(event):
        """Fails twice, then records what it saw: retried by the worker."""
        attempts = OUT / f"attempts-{event.record_id}"
        count = int(attempts.read_text()) + 1 if attempts.exists() else 1
        attempts.write_text(str(count))
        if count < 3:
            raise RuntimeError(f"attempt {count} fails on purpose")
        (OUT / f"done-{event.record_id}").write_text(f"{event.token} {event.auth.kind}")


    @route("GET", "/notes/count", auth="user")
    def count(request):
        return {"visible": len(records.list("notes", as_user=request.user)["items"])}


    @task
    def tick():
        with open(OUT / "ticks", "a") as out:
            out.write("x")
    '''
)


def wait_for(check, timeout: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not true after {timeout}s: {check}")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("hooks-data")
    (path / "hooks").mkdir()
    (path / "hooks" / "app_hooks.py").write_text(HOOKS)
    return path


@pytest.fixture(scope="module")
def served(data_dir):
    with servers.serving(data_dir) as (server, env):
        yield server, env


@pytest.fixture(scope="module")
def api(served):
    server, _ = served
    api = servers.login(server.url, servers.EMAIL, servers.PASSWORD)
    created = api.post(
        "/api/v1/collections",
        {
            "name": "notes",
            "fields": [{"name": "text", "type": "text"}],
            "rules": {
                "list": "",
                "view": "",
                "create": "",
                "update": None,
                "delete": None,
            },
        },
    )
    assert created.status_code == 201, created.text
    return api


def test_a_before_hook_refuses_a_write_in_the_web_process(api):
    response = api.post("/api/v1/collections/notes/records", {"text": "HELLO"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"code": "shouting", "message": "No shouting.", "param": "text"}
    ]


def test_an_after_hook_is_retried_by_the_worker_until_it_succeeds(api, data_dir):
    record = api.post("/api/v1/collections/notes/records", {"text": "hi"}).json()
    done = data_dir / "effects" / f"done-{record['id']}"
    wait_for(done.exists, timeout=90)
    token, kind = done.read_text().split()
    assert token and kind == "superuser"
    assert (data_dir / "effects" / f"attempts-{record['id']}").read_text() == "3"
    runs = wait_for(
        lambda: [
            j
            for j in api.get("/api/v1/jobs?task=baas.hooks.after").json()["items"]
            if j["state"] == "succeeded"
        ]
    )
    assert runs[0]["attempts"] == 3


def test_a_route_serves_under_fn_with_the_callers_rights(api, served):
    server, _ = served
    assert api.get("/api/v1/fn/notes/count").json()["visible"] >= 1
    anonymous = requests.get(f"{server.url}/api/v1/fn/notes/count", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "not_authenticated"


def test_a_schedule_added_at_run_time_is_run_by_beat(api, data_dir):
    made = api.post(
        "/api/v1/schedules",
        {"name": "tick", "task": "hooks.baas_data_hooks.app_hooks.tick", "every": 1},
    )
    assert made.status_code == 201, made.text
    ticks = data_dir / "effects" / "ticks"
    try:
        wait_for(lambda: ticks.exists() and len(ticks.read_text()) >= 2, timeout=60)
    finally:
        assert api.delete(f"/api/v1/schedules/{made.json()['id']}").status_code == 204


def test_a_task_only_workers_import_can_be_scheduled(api, data_dir):
    """The web process checks a schedule's task among all registered tasks, also those
    whose modules only a worker imports (baas.core.touch: apps/core/tasks.py)."""
    target = data_dir / "effects" / "touched-by-schedule"
    made = api.post(
        "/api/v1/schedules",
        {"name": "touch", "task": "baas.core.touch", "every": 1, "args": [str(target)]},
    )
    assert made.status_code == 201, made.text
    try:
        wait_for(target.exists, timeout=60)
    finally:
        assert api.delete(f"/api/v1/schedules/{made.json()['id']}").status_code == 204


def test_a_hooks_module_that_fails_to_import_stops_start_up_on_one_screen(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "broken.py").write_text(
        "from baas.hooks import before\n\n\n@before('create', 'notes')\ndef f(event):\n"
        "    pass\n\nvalue = undefined_name + 1\n"
    )
    env = servers.server_env(tmp_path)
    port = servers.free_port()
    started = time.monotonic()
    result = subprocess.run(
        [servers.BAAS, "serve", "--port", str(port)],
        cwd=servers.REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert result.returncode == 1
    assert time.monotonic() - started < 60
    assert "Traceback" not in result.stderr
    assert "hooks module baas_data_hooks.broken failed to import" in result.stderr
    assert f"{tmp_path / 'hooks' / 'broken.py'}:8" in result.stderr
    assert "NameError: name 'undefined_name' is not defined" in result.stderr
    assert "BaaS is running" not in result.stdout
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    checked = servers.run_baas("hooks", "check", env=env)
    assert checked.returncode == 1 and "broken.py:8" in checked.stderr


def test_hooks_check_lists_what_the_modules_register(data_dir, served):
    _, env = served
    checked = servers.run_baas("hooks", "check", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "@before('create', 'notes')  baas_data_hooks.app_hooks.no_shouting" in (
        checked.stdout
    )
    assert "@route GET /api/v1/fn/notes/count  auth=user" in checked.stdout
    assert "@task  hooks.baas_data_hooks.app_hooks.tick" in checked.stdout
