"""Job runs: every background task's life (queued, started, retried, finished) as a
`JobRun` row, kept from Celery's signals in whichever process publishes or runs it.

Why not django-celery-results: it stores a task's *result* once the task has run, so a
queued or waiting-to-retry task is not there, attempts are not counted, and every task
would store its return value. These signals cost one small write per state change, in
the background process, and nothing on a request that queues no task.

Frequent housekeeping (the outbox deliverer, webhook sweeps, pruning) is not recorded:
it would bury the runs people look for.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from celery import shared_task, signals
from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.core.exceptions import NotFound
from apps.hooks.models import JobRun

log = logging.getLogger(__name__)

PRUNE_TASK = "baas.hooks.prune_job_runs"
#: tasks that run every few seconds or minutes on beat: not worth a row each
UNTRACKED = frozenset(
    {
        "baas.core.outbox.deliver",
        "baas.ping",
        "baas.webhooks.sweep",
        "baas.webhooks.deliver",  # deliveries keep their own log (/webhooks/{id}/deliveries)
        "baas.push.tick",
        PRUNE_TASK,
        "baas.core.prune_idempotency_records",
        "baas.collections.prune_changes",
        "baas.files.cleanup",
        "baas.files.sweep",
        "baas.hooks.prune_audit",
    }
)
ERROR_LIMIT = 2000  # characters of the error summary


def _tracked(name: str | None) -> bool:
    return bool(name) and name not in UNTRACKED


def _save(task_id: str, task: str, **fields) -> None:
    """Create or update the run; never lets bookkeeping fail the task itself."""
    try:
        updated = JobRun.objects.filter(pk=task_id).update(**fields)
        if not updated:
            fields.setdefault("queued_at", timezone.now())
            JobRun.objects.create(id=task_id, task=task, **fields)
    except DatabaseError:  # e.g. the table is not migrated yet, or a lost race
        log.warning("jobs: could not record %s %s", task, task_id, exc_info=True)


@signals.before_task_publish.connect
def _published(sender=None, headers=None, body=None, **kwargs) -> None:
    headers = headers or {}
    if not _tracked(sender) or not headers.get("id"):
        return
    args, task_kwargs = (
        (body[0], body[1]) if isinstance(body, tuple | list) else ([], {})
    )
    eta = headers.get("eta")
    fields = {
        "args": list(args or []),
        "kwargs": dict(task_kwargs or {}),
        "next_attempt_at": eta,
    }
    if headers.get("retries"):  # Celery's own retry: the same id, published again
        fields["state"] = JobRun.RETRYING
        _save(headers["id"], sender, **fields)
        return
    fields.update(state=JobRun.QUEUED, queued_at=timezone.now())
    fields["retry_of"] = headers.get("baas_retry_of") or ""
    try:  # a new task id: one INSERT (it runs in the request that queued the task)
        with transaction.atomic():
            JobRun.objects.create(id=headers["id"], task=sender, **fields)
    except DatabaseError:
        _save(headers["id"], sender, **fields)


@signals.task_prerun.connect
def _started(sender=None, task_id=None, task=None, **kwargs) -> None:
    name = getattr(task, "name", None)
    if not _tracked(name):
        return
    request = getattr(task, "request", None)
    retries = getattr(request, "retries", 0) or 0
    previous = JobRun.objects.filter(pk=task_id).values_list("attempts", flat=True)
    attempts = max(retries, previous[0] if previous else 0) + 1
    _save(
        task_id,
        name,
        state=JobRun.STARTED,
        started_at=timezone.now(),
        attempts=attempts,
        next_attempt_at=None,
    )


@signals.task_success.connect
def _succeeded(sender=None, **kwargs) -> None:
    name = getattr(sender, "name", None)
    task_id = getattr(getattr(sender, "request", None), "id", None)
    if _tracked(name) and task_id:
        _save(task_id, name, state=JobRun.SUCCEEDED, finished_at=timezone.now())


@signals.task_retry.connect
def _retrying(sender=None, request=None, reason=None, **kwargs) -> None:
    name = getattr(sender, "name", None)
    task_id = getattr(request, "id", None)
    if _tracked(name) and task_id:
        _save(task_id, name, state=JobRun.RETRYING, error=_summary(reason))


@signals.task_failure.connect
def _failed(sender=None, task_id=None, exception=None, **kwargs) -> None:
    name = getattr(sender, "name", None)
    if _tracked(name) and task_id:
        _save(
            task_id,
            name,
            state=JobRun.FAILED,
            finished_at=timezone.now(),
            error=_summary(exception),
        )


def _summary(exc) -> str:
    if exc is None:
        return ""
    text = (
        f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    )
    return text[:ERROR_LIMIT]


#: a run's id is its Celery task id (a UUID; names of Celery's own form are accepted too)
RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def get_run(run_id: str) -> JobRun:
    """One recorded run; NotFound for an id of another form or no run."""
    run = JobRun.objects.filter(pk=run_id).first() if RUN_ID.fullmatch(run_id) else None
    if run is None:
        raise NotFound("No such job.")
    return run


def retry(run: JobRun) -> str:
    """Queue the task of a finished run again with its arguments; the new run's id."""
    from baas.celery import app

    options = {"headers": {"baas_retry_of": run.pk}}
    task = app.tasks.get(run.task)
    if task is not None:
        return task.apply_async(run.args, run.kwargs, **options).id
    return app.send_task(run.task, run.args, run.kwargs, **options).id


def retry_run(run: JobRun, *, actor=None, request=None) -> str:
    """Queue a finished run again (409 while it is still going), audited as
    `job.retry`; the new run's id (POST /api/v1/jobs/{id}/retry, the console)."""
    from apps.core.exceptions import Conflict
    from apps.hooks import audit

    if run.state not in (JobRun.FAILED, JobRun.SUCCEEDED):
        raise Conflict("Only a finished job can be retried.", code="job_not_finished")
    new_id = retry(run)
    audit.record(
        actor=actor,
        action="job.retry",
        target=audit.Target("job", run.pk, run.task),
        after={"retry": new_id},
        request=request,
    )
    return new_id


@shared_task(name=PRUNE_TASK, ignore_result=True)
def prune_job_runs(now=None) -> int:
    """Finished runs older than BAAS_JOBS_RETENTION_DAYS go."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.BAAS_JOBS_RETENTION_DAYS)
    deleted, _ = JobRun.objects.filter(
        finished_at__lt=cutoff, state__in=(JobRun.SUCCEEDED, JobRun.FAILED)
    ).delete()
    return deleted
