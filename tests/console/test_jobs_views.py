"""The console_client's jobs and schedules pages in-process: runs filtered and paged, a run's
detail and retry (audited, as the API's), schedules created, edited, paused and deleted
through apps.hooks.schedules with its errors shown next to the field, and every
user-controlled string escaped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.hooks.models import AuditEntry, JobRun

XSS = '<img src=x onerror=alert(1)>"><script>'

pytestmark = pytest.mark.django_db(transaction=True)


def run(task_id: str, task: str, state: str, minutes_ago: int = 0, **fields) -> JobRun:
    return JobRun.objects.create(
        id=task_id,
        task=task,
        state=state,
        queued_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )


def test_runs_are_listed_newest_first_with_state_and_error(console_client):
    run("r-old", "hooks.app.rebuild", JobRun.SUCCEEDED, minutes_ago=5, attempts=1)
    run("r-new", "baas.files.thumbs", JobRun.FAILED, error="OSError: disk full")
    page = console_client.get("/console/jobs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("baas.files.thumbs") < html.index("hooks.app.rebuild")
    assert "OSError: disk full" in html and "badge danger" in html


def test_runs_filter_by_state_and_task_prefix(console_client):
    run("a-1", "hooks.app.rebuild", JobRun.SUCCEEDED)
    run("b-1", "baas.files.thumbs", JobRun.FAILED)
    failed = console_client.get("/console/jobs/?state=failed").content.decode()
    assert "baas.files.thumbs" in failed and "/console/jobs/a-1/" not in failed
    hooks = console_client.get("/console/jobs/?task=hooks.*").content.decode()
    assert "/console/jobs/a-1/" in hooks and "/console/jobs/b-1/" not in hooks


def test_a_bad_filter_is_a_400_shown_next_to_it(console_client):
    page = console_client.get("/console/jobs/?state=nope&task=bad%20name")
    assert page.status_code == 400
    html = page.content.decode()
    assert 'id="state-error"' in html and 'id="task-error"' in html


def test_runs_are_paged_with_an_older_link(console_client):
    for i in range(30):
        run(f"p-{i:02d}", "hooks.app.rebuild", JobRun.SUCCEEDED, minutes_ago=60 - i)
    first = console_client.get("/console/jobs/").content.decode()
    assert "/console/jobs/p-29/" in first and "/console/jobs/p-00/" not in first
    assert "Older runs" in first
    cursor = first.split("cursor=")[1].split('"')[0]
    second = console_client.get(f"/console/jobs/?cursor={cursor}").content.decode()
    assert "/console/jobs/p-00/" in second and "/console/jobs/p-29/" not in second
    assert console_client.get("/console/jobs/?cursor=garbage").status_code == 400


def test_run_detail_shows_arguments_and_error_as_text(console_client):
    run(
        "x-1",
        "baas.core.touch",
        JobRun.FAILED,
        args=[XSS],
        kwargs={"k": XSS},
        error=XSS,
    )
    html = console_client.get("/console/jobs/x-1/").content.decode()
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Retry" in html
    assert console_client.get("/console/jobs/no-such-run/").status_code == 404


def test_retrying_a_failed_run_queues_a_new_run_and_is_audited(console_client):
    run("old", "tests.not.registered", JobRun.FAILED, args=[1], kwargs={"x": 2})
    response = console_client.post("/console/jobs/old/retry/")
    assert response.status_code == 302
    new = JobRun.objects.get(retry_of="old")
    assert response["Location"] == f"/console/jobs/{new.pk}/"
    assert (new.task, new.args, new.kwargs) == ("tests.not.registered", [1], {"x": 2})
    assert AuditEntry.objects.filter(action="job.retry", target_id="old").exists()


def test_a_run_still_going_cannot_be_retried(console_client):
    run("busy", "baas.core.touch", JobRun.STARTED)
    response = console_client.post("/console/jobs/busy/retry/", follow=True)
    assert "Only a finished job can be retried." in response.content.decode()
    assert not JobRun.objects.filter(retry_of="busy").exists()


def test_retry_needs_a_post(console_client):
    run("done", "baas.core.touch", JobRun.SUCCEEDED)
    assert console_client.get("/console/jobs/done/retry/").status_code == 405


# --- schedules -----------------------------------------------------------------------


def schedule_form(**fields) -> dict:
    base = {
        "name": "nightly",
        "task": "baas.ping",
        "timing": "cron",
        "cron": "0 3 * * *",
        "every": "",
        "args": '["x"]',
        "kwargs": "{}",
        "enabled": "on",
    }
    return {**base, **fields}


def test_schedules_are_created_edited_paused_and_deleted(console_client):
    assert console_client.get("/console/jobs/schedules/new/").status_code == 200
    created = console_client.post("/console/jobs/schedules/new/", schedule_form())
    assert created.status_code == 302, created.content.decode()
    task = PeriodicTask.objects.get(name="nightly")
    assert (task.crontab.minute, task.crontab.hour, task.args) == ("0", "3", '["x"]')
    listing = console_client.get("/console/jobs/schedules/").content.decode()
    assert "nightly" in listing and "cron 0 3 * * *" in listing

    edited = console_client.post(
        f"/console/jobs/schedules/{task.pk}/",
        schedule_form(timing="every", every="90", cron=""),
    )
    assert edited.status_code == 302
    task.refresh_from_db()
    assert task.interval.every == 90 and task.crontab is None

    console_client.post(f"/console/jobs/schedules/{task.pk}/toggle/")
    task.refresh_from_db()
    assert task.enabled is False
    console_client.post(f"/console/jobs/schedules/{task.pk}/delete/")
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"schedule.create", "schedule.update", "schedule.delete"} <= actions


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"cron": "99 * * * *"}, "cron", ""),
        ({"timing": "every", "every": "zero"}, "every", "every is a number"),
        ({"task": "no.such.task"}, "task", "No such task is registered."),
        ({"name": ""}, "name", "A schedule needs a name"),
        ({"args": "[1,"}, "args", "args is not valid JSON"),
        ({"kwargs": "[]"}, "kwargs", "kwargs is a JSON object."),
    ],
)
def test_schedule_errors_are_shown_next_to_their_field(
    console_client, fields, param, message
):
    response = console_client.post(
        "/console/jobs/schedules/new/", schedule_form(**fields)
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="{param}-error"' in html and message in html
    assert not PeriodicTask.objects.filter(name="nightly").exists()


def test_a_taken_name_is_a_409_in_place(console_client):
    console_client.post("/console/jobs/schedules/new/", schedule_form())
    response = console_client.post("/console/jobs/schedules/new/", schedule_form())
    assert response.status_code == 409
    assert 'id="name-error"' in response.content.decode()


def test_schedule_values_render_as_text(console_client):
    response = console_client.post(
        "/console/jobs/schedules/new/",
        schedule_form(name=XSS, args=f"[{XSS!r}]".replace("'", '"')),
    )
    assert response.status_code == 400  # the args are not valid JSON: shown back
    assert XSS not in response.content.decode()
    console_client.post(
        "/console/jobs/schedules/new/", schedule_form(name=XSS, args='["<b>x</b>"]')
    )
    task = PeriodicTask.objects.get(name=XSS)
    for url in ("/console/jobs/schedules/", f"/console/jobs/schedules/{task.pk}/"):
        html = console_client.get(url).content.decode()
        assert XSS not in html and "<b>x</b>" not in html


def test_unknown_schedules_are_404(console_client):
    assert console_client.get("/console/jobs/schedules/123456/").status_code == 404
    assert console_client.post("/console/jobs/schedules/abc/delete/").status_code == 404
