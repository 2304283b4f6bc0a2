"""A worker killed with SIGKILL in the middle of 50 jobs: after a restart every job's
side effect exists exactly once, and the jobs it was running when it died ran again.

Real processes from the runtime-only environment: `baas migrate`, `baas shell` (creates
the `effects` collection and publishes the 50 jobs through the configured broker) and
`baas worker`, whose process group (the supervisor, Celery's main process and its pool
children) gets SIGKILL as a crash would, then a second `baas worker`. The job is a hooks
module's `@task` in `<data dir>/hooks/`: it appends a line per run to a file of its key,
sleeps, and creates the record `{"key": key}` in a collection with a unique `key` (a 409
means an earlier run already did), then marks the key done.

Embedded profile: the SQLite broker (apps/core/broker.py) and `baas serve`'s pool
(threads, one); the dead worker's message comes back when its lease runs out, while the
new worker goes on with the others. PostgreSQL profile: Redis as the broker and `baas
worker`'s defaults (prefork, two); kombu gives a dead worker's messages back when a
worker starts (and on a sweep every ~100 s), once they are older than the visibility
timeout, so the new worker is started after it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e import servers

pytestmark = pytest.mark.slow

JOBS = 50
SLEEP = 0.2  # seconds each job takes
VISIBILITY = 5  # BAAS_BROKER_VISIBILITY_TIMEOUT for these processes
WAIT = 90.0
TASK = "hooks.baas_data_hooks.jobs_under_test.effect"

HOOKS = textwrap.dedent(
    f"""
    import os
    import time
    from pathlib import Path

    from django.conf import settings

    from apps.core.exceptions import ApiError
    from baas import records
    from baas.hooks import task

    RUNS = Path(settings.DATA_DIR) / "runs"


    @task
    def effect(key):
        RUNS.mkdir(exist_ok=True)
        with open(RUNS / f"{{key}}.runs", "a") as runs:
            runs.write(f"{{os.getpid()}}\\n")
        time.sleep({SLEEP})
        try:
            records.create("effects", {{"key": key}})
        except ApiError as exc:
            if exc.status != 409:  # 409: an earlier run made it
                raise
        (RUNS / f"{{key}}.done").touch()
    """
)

SETUP = textwrap.dedent(
    f"""
    from apps.accounts.apikeys import KeyPrincipal
    from apps.collections.services import collection_create
    from baas.celery import app

    collection_create(
        actor=KeyPrincipal(key_id="", name="test", scopes=frozenset({{"schema"}})),
        data={{"name": "effects",
              "fields": [{{"name": "key", "type": "text", "unique": True}}]}},
    )
    job = app.tasks[{TASK!r}]
    for n in range({JOBS}):
        job.delay(f"job-{{n:02d}}")
    print("published")
    """
)

COUNT = textwrap.dedent(
    """
    import json
    from baas import records

    page = records.list("effects", limit=500)
    print(json.dumps([item["key"] for item in page["items"]]))
    """
)


def runs(data_dir: Path) -> dict[str, int]:
    """How many times each job started."""
    folder = data_dir / "runs"
    if not folder.is_dir():
        return {}
    return {
        path.stem: len(path.read_text().splitlines()) for path in folder.glob("*.runs")
    }


def done(data_dir: Path) -> set[str]:
    folder = data_dir / "runs"
    return {p.stem for p in folder.glob("*.done")} if folder.is_dir() else set()


def wait_for(condition, what: str, worker: servers.Server, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not condition():
        if not worker.running():
            raise AssertionError(f"the worker exited\n{worker.logs()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not after {timeout}s\n{worker.logs()}")
        time.sleep(0.05)


def shell(code: str, env: dict[str, str]) -> str:
    result = servers.run_baas("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def broker_rows(data_dir: Path) -> tuple[int, int]:
    """Messages in the embedded broker, and how many of them a worker holds."""
    with sqlite3.connect(data_dir / "broker.sqlite3") as db:
        return db.execute(
            "SELECT count(*), count(*) FILTER (WHERE visible_at > ?) "
            "FROM baas_broker_message",
            (time.time(),),
        ).fetchone()


def test_a_worker_killed_mid_run_leaves_each_side_effect_exactly_once(tmp_path):
    embedded = not servers.postgres_profile()
    pool = ["--pool", "threads", "--concurrency", "1"] if embedded else []
    data_dir = tmp_path / "data"
    (data_dir / "hooks").mkdir(parents=True)
    (data_dir / "hooks" / "jobs_under_test.py").write_text(HOOKS)

    with servers.backing_services() as services:
        env = servers.server_env(
            data_dir, BAAS_BROKER_VISIBILITY_TIMEOUT=str(VISIBILITY), **services
        )
        migrated = servers.run_baas("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        workers: list[servers.Server] = []

        def start_worker() -> servers.Server:
            worker = servers.Server(
                ["worker", *pool],
                env=env,
                log_dir=tmp_path,
                name=f"worker-{len(workers) + 1}",
                port=0,
            )
            workers.append(worker)
            return worker

        try:
            # Kill the first worker while it runs a job, once some jobs are done.
            killed_while_running: set[str] = set()
            for attempt in range(3):
                worker = start_worker()
                if attempt == 0:  # while the worker starts
                    assert "published" in shell(SETUP, env)
                target = min(len(done(data_dir)) + 8, JOBS - 10)
                wait_for(
                    lambda target=target: (
                        len(done(data_dir)) >= target
                        and set(runs(data_dir)) - done(data_dir)
                    ),
                    f"{target} jobs done and one running",
                    worker,
                )
                worker.children()  # remember the tree: nothing may outlive the kill
                os.killpg(worker.pid, signal.SIGKILL)
                killed_at = time.time()
                worker.proc.wait(timeout=10)
                time.sleep(0.2)
                assert worker.leftovers() == [], worker.leftovers()
                started_before_kill = runs(data_dir)
                killed_while_running = set(started_before_kill) - done(data_dir)
                if killed_while_running:
                    break  # the kill met a job in the middle (else: try again)
            assert killed_while_running, "every kill fell between two jobs"
            assert len(done(data_dir)) < JOBS

            if embedded:
                # The killed job's row is still there, leased; nothing lost or copied
                # (one more per kill if a job had finished but was not acknowledged).
                rows, leased = broker_rows(data_dir)
                waiting = JOBS - len(done(data_dir))
                assert waiting <= rows <= waiting + attempt + 1, (rows, waiting)
                assert leased >= 1
            else:
                time.sleep(max(0.0, killed_at + VISIBILITY + 0.5 - time.time()))

            worker = start_worker()
            wait_for(lambda: len(done(data_dir)) == JOBS, "all jobs done", worker)
            if embedded:  # acknowledged means deleted
                wait_for(
                    lambda: broker_rows(data_dir)[0] == 0, "an empty broker", worker
                )
            time.sleep(0.5)  # a duplicate delivery would have started by now
            worker.kill()

            keys = json.loads(shell(COUNT, env).strip().splitlines()[-1])
            assert len(keys) == JOBS
            assert set(keys) == {f"job-{n:02d}" for n in range(JOBS)}
            counted = runs(data_dir)
            assert set(counted) == set(keys)
            again = {key for key, n in counted.items() if n > 1}
            # What was running when the worker died ran once more, and nothing else
            # did except a job that finished but whose ack died with the worker.
            assert killed_while_running <= again, (killed_while_running, counted)
            assert again <= set(started_before_kill), (again, started_before_kill)
            assert max(counted.values()) <= attempt + 2, counted
        finally:
            for worker in workers:
                worker.kill()
