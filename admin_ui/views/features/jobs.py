"""Console page: jobs (recent task runs, a run's detail and retry) and schedules.

Reads and writes go through apps.hooks.jobs and apps.hooks.schedules, as /api/v1/jobs and
/api/v1/schedules do (apps/hooks/api/jobs_views.py): the same validation and audit entries.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.db import transaction
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST
from django_celery_beat.models import PeriodicTask

from admin_ui.access import console_page
from admin_ui.views.forms import form_errors, general_errors, pretty, when
from apps.core.exceptions import ApiError, InvalidInput
from apps.core.paging import newest_first
from apps.hooks import jobs, schedules
from apps.hooks.api.jobs_views import TASK_NAME
from apps.hooks.models import JobRun

STATE_BADGES = {
    JobRun.SUCCEEDED: "ok",
    JobRun.FAILED: "danger",
    JobRun.RETRYING: "warn",
    JobRun.STARTED: "",
    JobRun.QUEUED: "",
}
PAGE_SIZE = 25


def duration(start, end) -> str:
    if not start or not end:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


# --- runs -------------------------------------------------------------------------------


def _run_row(run: JobRun) -> dict:
    return {
        "run": run,
        "badge": STATE_BADGES.get(run.state, ""),
        "queued": when(run.queued_at),
        "started": when(run.started_at),
        "finished": when(run.finished_at),
        "next_attempt": when(run.next_attempt_at),
        "took": duration(run.started_at, run.finished_at),
        "error": run.error.splitlines()[0][:160] if run.error else "",
    }


def _filtered_runs(params, errors: dict) -> object:
    """The runs the list's `state` and `task` filters select (as GET /api/v1/jobs)."""
    runs = JobRun.objects.all()
    state = params.get("state") or ""
    if state:
        if state in JobRun.STATES:
            runs = runs.filter(state=state)
        else:
            errors["state"] = [f"state is one of {', '.join(JobRun.STATES)}."]
    task = (params.get("task") or "").strip()
    if task:
        prefix = task.endswith(".*")
        name = task[:-2] if prefix else task
        if TASK_NAME.fullmatch(name):
            runs = runs.filter(
                Q(task__startswith=name + ".") if prefix else Q(task=name)
            )
        else:
            errors["task"] = [
                "A task name (baas.core.send_email) or a prefix (baas.*)."
            ]
    return runs


@console_page
def job_list(request):
    params = request.GET
    errors: dict[str, list[str]] = {}
    runs = _filtered_runs(params, errors)
    rows, next_cursor, status = [], None, 200
    if errors:
        status = 400
    else:
        try:
            found, next_cursor = newest_first(
                runs,
                "queued_at",
                {"limit": str(PAGE_SIZE), "cursor": params.get("cursor") or ""},
            )
            rows = [_run_row(r) for r in found]
        except ApiError as exc:
            errors, status = form_errors(exc), exc.status
    tasks = sorted(set(JobRun.objects.values_list("task", flat=True).distinct()[:200]))
    query = {k: params.get(k) for k in ("state", "task") if params.get(k)}
    context = {
        "rows": rows,
        "states": JobRun.STATES,
        "state": params.get("state") or "",
        "task": params.get("task") or "",
        "tasks": tasks,
        "errors": errors,
        "general": general_errors(errors, {"state", "task"}),
        "next_query": {**query, "cursor": next_cursor} if next_cursor else None,
        "first_query": query if params.get("cursor") else None,
        "filtered": bool(query),
    }
    return render(request, "admin_ui/jobs/list.html", context, status=status)


@console_page
def job_detail(request, job_id: str):
    try:
        run = jobs.get_run(job_id)
    except ApiError as exc:
        return render(
            request,
            "admin_ui/jobs/missing.html",
            {"message": str(exc)},
            status=exc.status,
        )
    retries = JobRun.objects.filter(retry_of=run.pk).order_by("-queued_at")[:20]
    context = {
        **_run_row(run),
        "args": pretty(run.args),
        "kwargs": pretty(run.kwargs),
        "finished": run.state in (JobRun.FAILED, JobRun.SUCCEEDED),
        "finished_at": when(run.finished_at),
        "retries": [_run_row(r) for r in retries],
    }
    return render(request, "admin_ui/jobs/detail.html", context)


@console_page
@require_POST
def job_retry(request, job_id: str):
    try:
        new_id = jobs.retry_run(
            jobs.get_run(job_id), actor=request.user, request=request
        )
    except ApiError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:job", args=[job_id]))
    messages.success(request, "The job was queued again.")
    return redirect(reverse("console:job", args=[new_id]))


# --- schedules ----------------------------------------------------------------------------


def registered_tasks() -> list[str]:
    from baas.celery import app

    return sorted(name for name in app.tasks if not name.startswith("celery."))


def _schedule_rows() -> list[dict]:
    tasks = PeriodicTask.objects.select_related("crontab", "interval").order_by("name")
    rows = []
    for task in tasks:
        item = schedules.render(task)
        item["last_run"] = when(task.last_run_at)
        item["timing"] = (
            f"cron {item['cron']}" if item["cron"] else _every_text(item["every"])
        )
        rows.append(item)
    return rows


def _every_text(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"every {count} {unit}{'s' if count != 1 else ''}"
    return f"every {seconds} s"


FORM_FIELDS = ("name", "task", "cron", "every", "args", "kwargs", "enabled", "timing")


def _form_data(post, *, kind: str) -> dict:
    """The schedule form as the API's JSON body (InvalidInput for bad JSON or numbers)."""
    data: dict = {}
    if kind not in ("code",):
        data["name"] = post.get("name", "")
        data["task"] = post.get("task", "")
    timing = post.get("timing", "cron")
    if timing == "every":
        raw = post.get("every", "").strip()
        try:
            data["every"] = int(raw)
        except ValueError:
            raise InvalidInput(
                "every is a number of seconds (1 or more).", param="every"
            ) from None
    else:
        data["cron"] = post.get("cron", "").strip()
    if kind not in ("code",):
        for name in ("args", "kwargs"):
            raw = post.get(name, "").strip()
            if not raw:
                data[name] = [] if name == "args" else {}
                continue
            try:
                data[name] = json.loads(raw)
            except ValueError as exc:
                raise InvalidInput(
                    f"{name} is not valid JSON: {exc.msg} (line {exc.lineno}).",
                    param=name,
                ) from None
    data["enabled"] = post.get("enabled") == "on"
    return data


def _form_values(item: dict | None, post=None) -> dict:
    if post is not None:
        return {
            "name": post.get("name", ""),
            "task": post.get("task", ""),
            "timing": post.get("timing", "cron"),
            "cron": post.get("cron", ""),
            "every": post.get("every", ""),
            "args": post.get("args", ""),
            "kwargs": post.get("kwargs", ""),
            "enabled": post.get("enabled") == "on",
        }
    if item is None:
        return {
            "name": "",
            "task": "",
            "timing": "cron",
            "cron": "*/5 * * * *",
            "every": "",
            "args": "[]",
            "kwargs": "{}",
            "enabled": True,
        }
    return {
        "name": item["name"],
        "task": item["task"],
        "timing": "every" if item["every"] is not None else "cron",
        "cron": item["cron"] or "",
        "every": "" if item["every"] is None else int(item["every"]),
        "args": json.dumps(item["args"], ensure_ascii=False),
        "kwargs": json.dumps(item["kwargs"], ensure_ascii=False),
        "enabled": item["enabled"],
    }


def _schedule_form(request, *, task: PeriodicTask | None, values, errors, status=200):
    item = schedules.render(task) if task is not None else None
    context = {
        "item": item,
        "values": values,
        "errors": errors,
        "general": general_errors(errors, FORM_FIELDS),
        "tasks": registered_tasks(),
        "kind": item["source"] if item else "new",
    }
    return render(request, "admin_ui/jobs/schedule_form.html", context, status=status)


@console_page
def schedule_list(request):
    return render(request, "admin_ui/jobs/schedules.html", {"rows": _schedule_rows()})


@console_page
def schedule_create(request):
    if request.method != "POST":
        return _schedule_form(request, task=None, values=_form_values(None), errors={})
    try:
        data = _form_data(request.POST, kind="new")
        task = schedules.apply_changes(
            PeriodicTask(), data, creating=True, actor=request.user, request=request
        )
    except ApiError as exc:
        return _schedule_form(
            request,
            task=None,
            values=_form_values(None, request.POST),
            errors=form_errors(exc),
            status=exc.status,
        )
    messages.success(request, f"Schedule “{task.name}” created.")
    return redirect(reverse("console:schedules"))


def _found_schedule(request, schedule_id: str):
    try:
        return schedules.get(schedule_id), None
    except ApiError as exc:
        response = render(
            request,
            "admin_ui/jobs/missing.html",
            {"message": str(exc), "schedules": True},
            status=exc.status,
        )
        return None, response


@console_page
def schedule_edit(request, schedule_id: str):
    task, missing = _found_schedule(request, schedule_id)
    if missing:
        return missing
    item = schedules.render(task)
    if request.method != "POST":
        return _schedule_form(request, task=task, values=_form_values(item), errors={})
    try:
        data = _form_data(request.POST, kind=item["source"])
        with transaction.atomic():
            task = schedules.apply_changes(
                task, data, creating=False, actor=request.user, request=request
            )
    except ApiError as exc:
        return _schedule_form(
            request,
            task=schedules.get(schedule_id),
            values=_form_values(item, request.POST),
            errors=form_errors(exc),
            status=exc.status,
        )
    messages.success(request, f"Schedule “{task.name}” saved.")
    return redirect(reverse("console:schedules"))


@console_page
@require_POST
def schedule_toggle(request, schedule_id: str):
    task, missing = _found_schedule(request, schedule_id)
    if missing:
        return missing
    enable = not task.enabled
    try:
        schedules.apply_changes(
            task,
            {"enabled": enable},
            creating=False,
            actor=request.user,
            request=request,
        )
    except ApiError as exc:
        messages.error(request, str(exc))
    else:
        state = "enabled" if enable else "paused"
        messages.success(request, f"Schedule “{task.name}” {state}.")
    return redirect(reverse("console:schedules"))


@console_page
@require_POST
def schedule_delete(request, schedule_id: str):
    task, missing = _found_schedule(request, schedule_id)
    if missing:
        return missing
    name = task.name
    try:
        schedules.delete(task, actor=request.user, request=request)
    except ApiError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Schedule “{name}” deleted.")
    return redirect(reverse("console:schedules"))


urlpatterns = [
    path("jobs/", job_list, name="jobs"),
    path("jobs/schedules/", schedule_list, name="schedules"),
    path("jobs/schedules/new/", schedule_create, name="schedule-new"),
    path("jobs/schedules/<str:schedule_id>/", schedule_edit, name="schedule"),
    path(
        "jobs/schedules/<str:schedule_id>/toggle/",
        schedule_toggle,
        name="schedule-toggle",
    ),
    path(
        "jobs/schedules/<str:schedule_id>/delete/",
        schedule_delete,
        name="schedule-delete",
    ),
    path("jobs/<str:job_id>/", job_detail, name="job"),
    path("jobs/<str:job_id>/retry/", job_retry, name="job-retry"),
]
