"""The Celery application; configured from Django settings (CELERY_* names)."""

import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baas.settings")

if os.environ.get("C_FORCE_ROOT"):
    # Celery's switch for running as root on purpose (containers): then its "running
    # with superuser privileges" warning on every start says nothing new.
    warnings.filterwarnings("ignore", category=SecurityWarning)

app = Celery("baas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The audit log's pruning task lives beside its service (apps/hooks/audit.py).
app.autodiscover_tasks(["apps.hooks"], related_name="audit")


@app.task(name="baas.ping")
def ping() -> str:
    """Round-trip check used by readiness probes and tests."""
    return "pong"


PRUNE_IDEMPOTENCY_EVERY = 3600.0  # seconds
PRUNE_CHANGES_EVERY = 3600.0  # seconds
FILES_CLEANUP_EVERY = 900.0
FILES_SWEEP_EVERY = 86400.0
PRUNE_AUDIT_EVERY = 86400.0
PRUNE_JOB_RUNS_EVERY = 3600.0


@app.on_after_configure.connect
def schedule_periodic_tasks(sender, **kwargs) -> None:
    """Beat's schedule: expired Idempotency-Key responses and old change-log rows are
    pruned hourly, audit entries older than BAAS_AUDIT_RETENTION_DAYS daily; tasks the
    outbox kept while the broker was down are published every BAAS_OUTBOX_INTERVAL
    seconds."""
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.BAAS_OUTBOX_INTERVAL),
        sender.signature("baas.core.outbox.deliver"),
        name="deliver the outbox",
    )
    sender.add_periodic_task(
        PRUNE_IDEMPOTENCY_EVERY,
        sender.signature("baas.core.prune_idempotency_records"),
        name="prune idempotency records",
    )
    sender.add_periodic_task(
        PRUNE_CHANGES_EVERY,
        sender.signature("baas.collections.prune_changes"),
        name="prune change log",
    )
    sender.add_periodic_task(
        FILES_CLEANUP_EVERY,
        sender.signature("baas.files.cleanup"),
        name="finish interrupted file uploads and deletes",
    )
    sender.add_periodic_task(
        FILES_SWEEP_EVERY,
        sender.signature("baas.files.sweep"),
        name="remove files no record holds",
    )
    sender.add_periodic_task(
        PRUNE_AUDIT_EVERY,
        sender.signature("baas.hooks.prune_audit"),
        name="prune audit log",
    )
    sender.add_periodic_task(
        float(settings.BAAS_OUTBOX_INTERVAL),
        sender.signature("baas.webhooks.sweep"),
        name="send due webhook deliveries",
    )
    sender.add_periodic_task(
        float(settings.BAAS_OUTBOX_INTERVAL),
        sender.signature("baas.push.tick"),
        name="send due push messages",
    )
    sender.add_periodic_task(
        PRUNE_JOB_RUNS_EVERY,
        sender.signature("baas.hooks.prune_job_runs"),
        name="prune finished job runs",
    )
