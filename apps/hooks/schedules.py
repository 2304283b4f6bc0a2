"""Schedules: django-celery-beat's periodic tasks, from three sources.

- `system`: the server's own housekeeping (baas/celery.py), written by beat at start.
- `code`: `@cron` in a hooks module. Beat writes each one at start; afterwards it is the
  database's: an operator may change or pause it at run time and a restart keeps that,
  unless the expression in the code itself changed (the code then wins again). A cron
  removed from the code is removed from the database.
- `api`: made at run time through /api/v1/schedules, for any registered task.
"""

from __future__ import annotations

import json

from celery import signals
from django.db import transaction
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
)

from apps.core.exceptions import Conflict, InvalidInput, NotFound
from apps.hooks import audit
from apps.hooks.registry import parse_cron, registry

CODE_PREFIX = "code:"  # description of a code cron: "code:<its expression>"
CODE_NAME = "hooks: "  # name prefix of a code cron's periodic task
MIN_EVERY = 1  # seconds


def crontab_row(expr: str) -> CrontabSchedule:
    """The CrontabSchedule row for a five-field expression (UTC); ValueError if bad."""
    parse_cron(expr)
    minute, hour, day_of_month, month, day_of_week = expr.split()
    row, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone="UTC",
    )
    return row


def interval_row(seconds: int) -> IntervalSchedule:
    row, _ = IntervalSchedule.objects.get_or_create(
        every=seconds, period=IntervalSchedule.SECONDS
    )
    return row


def cron_text(crontab: CrontabSchedule) -> str:
    return " ".join(
        [
            crontab.minute,
            crontab.hour,
            crontab.day_of_month,
            crontab.month_of_year,
            crontab.day_of_week,
        ]
    )


def source(task: PeriodicTask) -> str:
    from baas.celery import app

    if task.description.startswith(CODE_PREFIX):
        return "code"
    if task.name in (app.conf.beat_schedule or {}) or task.name.startswith("celery."):
        return "system"
    return "api"


@transaction.atomic
def sync_code_crons() -> None:
    """Write the registry's @cron entries to the database (see the module docstring)."""
    wanted = {CODE_NAME + cron.name: cron for cron in registry.crons}
    for task in PeriodicTask.objects.filter(description__startswith=CODE_PREFIX):
        if task.name not in wanted:
            task.delete()
    for name, cron in wanted.items():
        description = CODE_PREFIX + cron.expr
        task = PeriodicTask.objects.filter(name=name).first()
        if task is None:
            PeriodicTask.objects.create(
                name=name,
                task=cron.task,
                crontab=crontab_row(cron.expr),
                description=description,
            )
        elif task.description != description or task.task != cron.task:
            task.crontab, task.interval = crontab_row(cron.expr), None
            task.task, task.description = cron.task, description
            task.save()


@signals.beat_init.connect
def _beat_started(sender=None, **kwargs) -> None:
    sync_code_crons()


def registered_task(name) -> str:
    """`name` if a worker knows that task. A web process imports only the task modules
    its requests use: the first unknown name imports the rest, as a worker does at
    start-up (Celery's autodiscovery of each app's tasks module, then `include`)."""
    from baas.celery import app

    if isinstance(name, str) and name not in app.tasks:
        app.loader.import_default_modules()
    if not isinstance(name, str) or name not in app.tasks:
        raise InvalidInput(
            "No such task is registered.", code="unknown_task", param="task"
        )
    return name


def apply_changes(
    task: PeriodicTask, data: dict, *, creating: bool, actor=None, request=None
) -> PeriodicTask:
    """Validate and apply a create or change of a schedule (the API's input); audited."""
    before = None if creating else render(task)
    with transaction.atomic():
        task = _apply(task, data, creating=creating)
        after = render(task)
        if after != before:  # a change that changes nothing is not one
            audit.record(
                actor=actor,
                action="schedule.create" if creating else "schedule.update",
                target=audit.Target("schedule", str(task.pk), task.name),
                before=before,
                after=after,
                request=request,
            )
    return task


def _apply(task: PeriodicTask, data: dict, *, creating: bool) -> PeriodicTask:
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.")
    unknown = set(data) - {"name", "task", "cron", "every", "args", "kwargs", "enabled"}
    if unknown:
        raise InvalidInput(
            f"Unknown field {sorted(unknown)[0]!r}.", param=sorted(unknown)[0]
        )
    kind = "new" if creating else source(task)
    if kind == "system":
        raise Conflict(
            "The server's own schedules cannot be changed.", code="system_schedule"
        )
    if kind == "code" and set(data) - {"cron", "every", "enabled"}:
        raise Conflict(
            "A schedule from a hooks module can only be re-timed or paused here; change "
            "the rest in its code.",
            code="code_schedule",
        )
    if "name" in data or creating:
        name = data.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
            raise InvalidInput(
                "A schedule needs a name of 1 to 200 characters.", param="name"
            )
        if name.startswith(CODE_NAME):
            raise InvalidInput(
                f"Names starting {CODE_NAME!r} are for code.", param="name"
            )
        if PeriodicTask.objects.filter(name=name).exclude(pk=task.pk).exists():
            raise Conflict(
                "A schedule with this name exists.", code="name_taken", param="name"
            )
        task.name = name
    if "task" in data or creating:
        task.task = registered_task(data.get("task"))
    if "cron" in data and "every" in data:
        raise InvalidInput("Give either cron or every.", param="every")
    if "cron" in data:
        try:
            task.crontab, task.interval = crontab_row(data["cron"]), None
        except (ValueError, AttributeError, TypeError) as exc:
            raise InvalidInput(str(exc), code="invalid_cron", param="cron") from None
    elif "every" in data:
        every = data["every"]
        if not isinstance(every, int) or isinstance(every, bool) or every < MIN_EVERY:
            raise InvalidInput(
                "every is a number of seconds (1 or more).", param="every"
            )
        task.interval, task.crontab = interval_row(every), None
    elif creating:
        raise InvalidInput("A schedule needs cron or every.", param="cron")
    if "args" in data:
        if not isinstance(data["args"], list):
            raise InvalidInput("args is a JSON array.", param="args")
        task.args = json.dumps(data["args"])
    if "kwargs" in data:
        if not isinstance(data["kwargs"], dict):
            raise InvalidInput("kwargs is a JSON object.", param="kwargs")
        task.kwargs = json.dumps(data["kwargs"])
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise InvalidInput("enabled is true or false.", param="enabled")
        task.enabled = data["enabled"]
    task.save()
    return task


def get(schedule_id: str) -> PeriodicTask:
    """One periodic task by its id; NotFound for an id of another form or no task."""
    task = (
        PeriodicTask.objects.filter(pk=int(schedule_id)).first()
        if schedule_id.isdigit() and len(schedule_id) < 12
        else None
    )
    if task is None:
        raise NotFound("No such schedule.")
    return task


def delete(task: PeriodicTask, *, actor=None, request=None) -> None:
    kind = source(task)
    if kind != "api":
        raise Conflict(
            f"A {kind} schedule cannot be deleted here; pause it (enabled: false).",
            code=f"{kind}_schedule",
        )
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="schedule.delete",
            target=audit.Target("schedule", str(task.pk), task.name),
            before=render(task),
            request=request,
        )
        task.delete()


def render(task: PeriodicTask) -> dict:
    from apps.core.paging import format_time

    return {
        "id": str(task.pk),
        "name": task.name,
        "task": task.task,
        "cron": cron_text(task.crontab) if task.crontab_id else None,
        "every": task.interval.every * _SECONDS[task.interval.period]
        if task.interval_id
        else None,
        "args": json.loads(task.args or "[]"),
        "kwargs": json.loads(task.kwargs or "{}"),
        "enabled": task.enabled,
        "source": source(task),
        "last_run_at": format_time(task.last_run_at) if task.last_run_at else None,
        "total_run_count": task.total_run_count,
    }


_SECONDS = {
    IntervalSchedule.DAYS: 86400,
    IntervalSchedule.HOURS: 3600,
    IntervalSchedule.MINUTES: 60,
    IntervalSchedule.SECONDS: 1,
    IntervalSchedule.MICROSECONDS: 1e-6,
}
