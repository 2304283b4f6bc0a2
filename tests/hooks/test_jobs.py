"""Jobs (`/jobs`: task runs from Celery's signals) and schedules (`/schedules`:
django-celery-beat, with hooks modules' @cron written at beat start)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.hooks import registry, schedules
from apps.hooks.jobs import prune_job_runs
from apps.hooks.models import JobRun
from baas.hooks import cron, task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hooks():
    with registry.isolated() as fresh:
        yield fresh


def run(task_id: str, name: str, state: str, minutes_ago: int = 0, **fields) -> JobRun:
    return JobRun.objects.create(
        id=task_id,
        task=name,
        state=state,
        queued_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        **fields,
    )


@pytest.mark.parametrize(
    "actor, status",
    [
        ("anon", 401),
        ("user", 403),
        ("other_key", 403),
        ("jobs_key", 200),
        ("admin", 200),
    ],
)
def test_only_superusers_and_jobs_keys_see_jobs_and_schedules(
    anon, user_client, admin, key_client, actor, status
):
    clients = {
        "anon": anon,
        "user": user_client,
        "admin": admin,
        "jobs_key": key_client("jobs"),
        "other_key": key_client("records:read", "records:write", "schema"),
    }
    client = clients[actor]
    run("t-1", "baas.mail.send", JobRun.FAILED)
    for method, path in [
        ("get", "/api/v1/jobs"),
        ("get", "/api/v1/jobs/t-1"),
        ("get", "/api/v1/schedules"),
    ]:
        assert getattr(client, method)(path).status_code == status, path
    retry = client.post("/api/v1/jobs/t-1/retry")
    assert retry.status_code == (202 if status == 200 else status)
    created = client.post(
        "/api/v1/schedules",
        {"name": "n", "task": "baas.ping", "every": 60},
        format="json",
    )
    assert created.status_code == (201 if status == 200 else status)


def test_jobs_list_filters_by_state_and_task_and_pages_newest_first(admin):
    for i in range(5):
        run(f"a-{i}", "hooks.app.rebuild", JobRun.SUCCEEDED, minutes_ago=10 - i)
    run("b-1", "baas.files.thumbs", JobRun.FAILED, error="OSError: disk full")
    first = admin.get("/api/v1/jobs?limit=4").json()
    assert [j["id"] for j in first["items"]] == ["b-1", "a-4", "a-3", "a-2"]
    second = admin.get(f"/api/v1/jobs?limit=4&cursor={first['next_cursor']}").json()
    assert [j["id"] for j in second["items"]] == ["a-1", "a-0"]
    assert second["next_cursor"] is None
    failed = admin.get("/api/v1/jobs?state=failed").json()["items"]
    assert [(j["id"], j["error"]) for j in failed] == [("b-1", "OSError: disk full")]
    hooks_runs = admin.get("/api/v1/jobs?task=hooks.*").json()["items"]
    assert len(hooks_runs) == 5
    for query, param in [
        ("state=lost", "state"),
        ("task=%3Cscript%3E", "task"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ]:
        response = admin.get(f"/api/v1/jobs?{query}")
        assert response.status_code == 400, query
        assert response.json()["errors"][0]["param"] == param
    assert admin.get("/api/v1/jobs/none-such").status_code == 404


def test_a_task_run_is_recorded_with_its_attempts_and_error(hooks, admin):
    calls = []

    @task
    def flaky(n):
        calls.append(n)
        raise ValueError(f"bad input {n}")

    @task(name="tests.ok")
    def ok(n):
        return n

    ok.delay(1)
    flaky.apply(args=(2,))
    runs = {r.task: r for r in JobRun.objects.all()}
    assert runs["tests.ok"].state == JobRun.SUCCEEDED
    assert runs["tests.ok"].attempts == 1 and runs["tests.ok"].finished_at
    failed = runs[flaky.name]
    assert failed.state == JobRun.FAILED
    assert failed.error == "ValueError: bad input 2"
    body = admin.get(f"/api/v1/jobs/{failed.pk}").json()
    assert body["state"] == "failed" and body["attempts"] == 1


def test_retrying_a_finished_job_queues_its_task_again(admin):
    run("old", "tests.not.registered", JobRun.FAILED, args=[1], kwargs={"x": 2})
    response = admin.post("/api/v1/jobs/old/retry")
    assert response.status_code == 202, response.content
    new = JobRun.objects.get(pk=response.json()["id"])
    assert (new.task, new.args, new.kwargs, new.retry_of, new.state) == (
        "tests.not.registered",
        [1],
        {"x": 2},
        "old",
        JobRun.QUEUED,
    )
    run("busy", "baas.ping", JobRun.STARTED)
    assert admin.post("/api/v1/jobs/busy/retry").status_code == 409


def test_finished_runs_are_pruned_after_the_retention(settings):
    settings.BAAS_JOBS_RETENTION_DAYS = 7
    old = run(
        "old",
        "x.y",
        JobRun.SUCCEEDED,
        finished_at=timezone.now() - dt.timedelta(days=8),
    )
    run("recent", "x.y", JobRun.SUCCEEDED, finished_at=timezone.now())
    run("waiting", "x.y", JobRun.RETRYING)
    assert prune_job_runs() == 1
    assert not JobRun.objects.filter(pk=old.pk).exists()
    assert JobRun.objects.count() == 2


def test_code_crons_are_written_once_and_keep_what_an_operator_changed(hooks, admin):
    @cron("*/5 * * * *", name="tick")
    def tick():
        pass

    schedules.sync_code_crons()
    items = admin.get("/api/v1/schedules").json()["items"]
    (entry,) = [s for s in items if s["name"] == "hooks: tick"]
    assert (entry["cron"], entry["source"], entry["enabled"]) == (
        "*/5 * * * *",
        "code",
        True,
    )
    paused = admin.patch(
        f"/api/v1/schedules/{entry['id']}",
        {"enabled": False, "cron": "0 * * * *"},
        format="json",
    )
    assert paused.status_code == 200, paused.content
    schedules.sync_code_crons()  # a restart: the operator's change stays
    again = admin.get(f"/api/v1/schedules/{entry['id']}").json()
    assert (again["cron"], again["enabled"]) == ("0 * * * *", False)
    assert (
        admin.patch(
            f"/api/v1/schedules/{entry['id']}", {"task": "baas.ping"}, format="json"
        ).status_code
        == 409
    )
    assert admin.delete(f"/api/v1/schedules/{entry['id']}").status_code == 409
    hooks.crons[0] = registry.Cron("*/10 * * * *", "tick", hooks.crons[0].task)
    schedules.sync_code_crons()  # the code changed its expression: the code wins
    assert (
        admin.get(f"/api/v1/schedules/{entry['id']}").json()["cron"] == "*/10 * * * *"
    )
    hooks.crons.clear()
    schedules.sync_code_crons()  # removed from the code: gone
    assert not PeriodicTask.objects.filter(name="hooks: tick").exists()


def test_schedules_made_through_the_api_are_validated_and_deletable(admin):
    def post(body):
        return admin.post("/api/v1/schedules", body, format="json")

    assert (
        post({"name": "x", "task": "no.such.task", "every": 5}).json()["errors"][0][
            "param"
        ]
        == "task"
    )
    assert (
        post({"name": "x", "task": "baas.ping", "cron": "61 * * * *"}).json()["errors"][
            0
        ]["param"]
        == "cron"
    )
    assert post({"name": "x", "task": "baas.ping", "every": 0}).status_code == 400
    assert post({"name": "x", "task": "baas.ping"}).status_code == 400
    assert (
        post({"name": "hooks: x", "task": "baas.ping", "every": 5}).status_code == 400
    )
    made = post(
        {"name": "nightly ping", "task": "baas.ping", "cron": "0 3 * * *", "args": []}
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["source"], body["cron"], body["every"]) == ("api", "0 3 * * *", None)
    assert (
        post({"name": "nightly ping", "task": "baas.ping", "every": 5}).status_code
        == 409
    )
    changed = admin.patch(
        f"/api/v1/schedules/{body['id']}", {"every": 30}, format="json"
    )
    assert (changed.json()["cron"], changed.json()["every"]) == (None, 30)
    assert admin.delete(f"/api/v1/schedules/{body['id']}").status_code == 204
    assert admin.get(f"/api/v1/schedules/{body['id']}").status_code == 404
    assert admin.get("/api/v1/schedules/abc").status_code == 404


def test_schedule_changes_and_job_retries_are_audited(admin, superuser):
    from apps.hooks.models import AuditEntry

    made = admin.post(
        "/api/v1/schedules",
        {"name": "n", "task": "baas.ping", "every": 5},
        format="json",
    ).json()
    admin.patch(f"/api/v1/schedules/{made['id']}", {"every": 9}, format="json")
    admin.patch(f"/api/v1/schedules/{made['id']}", {"every": 9}, format="json")
    admin.delete(f"/api/v1/schedules/{made['id']}")
    run("old", "tests.not.registered", JobRun.FAILED)
    admin.post("/api/v1/jobs/old/retry")
    entries = list(
        AuditEntry.objects.exclude(action="superuser.login").order_by("at", "id")
    )
    assert [e.action for e in entries] == [
        "schedule.create",
        "schedule.update",
        "schedule.delete",
        "job.retry",
    ]
    assert {e.actor_id for e in entries} == {str(superuser.pk)}
    assert entries[1].diff == {"every": {"before": 5, "after": 9}}
