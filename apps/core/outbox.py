"""A transactional outbox for background work: `enqueue("task.name", *args, **kwargs)`.

The task is written to the database in the caller's transaction and published to the
Celery broker once that transaction commits, so a request never fails, and never
half-succeeds, because the broker is down: the row stays, and the `deliver` beat task
(or the next successful publish from the same process) publishes it when the broker is
back. A published row is deleted. Delivery is at least once: tasks enqueued here must
tolerate running twice (a publish whose row could not be deleted is published again).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.models import OutboxMessage

logger = logging.getLogger(__name__)

DELIVER_TASK = "baas.core.outbox.deliver"
BATCH = 100
# A row younger than this that was never tried is left to the request that wrote it.
GRACE = timedelta(seconds=10)

# A publish from this process failed: the next one that succeeds asks for a delivery run.
_backlog = False


def _app():
    from baas.celery import app

    return app


def enqueue(task: str, *args, _after_commit: bool = False, **kwargs) -> OutboxMessage:
    """Run `task` on a worker once the current transaction commits (JSON arguments).
    `_after_commit`: also with eager tasks (tests), wait for the commit."""
    message = OutboxMessage.objects.create(task=task, args=list(args), kwargs=kwargs)
    if _app().conf.task_always_eager and not _after_commit:
        # In-process tests: run now, as `delay` would; their transaction never commits.
        _publish_and_forget(message)
    else:
        transaction.on_commit(lambda: _publish_and_forget(message), robust=True)
    return message


def publish(message: OutboxMessage) -> bool:
    """Hand one task to the broker; False when the broker cannot be reached."""
    app = _app()
    task = app.tasks.get(message.task)
    try:
        if task is not None:
            task.apply_async(message.args, message.kwargs, retry=False)
        else:
            app.send_task(message.task, message.args, message.kwargs, retry=False)
    except Exception as exc:  # kombu's OperationalError, socket errors: broker down
        logger.debug("outbox: publishing %s failed: %r", message, exc)
        return False
    return True


def _publish_and_forget(message: OutboxMessage) -> None:
    """After commit: publish and delete the row, or count the attempt and keep it."""
    global _backlog
    if not publish(message):
        OutboxMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") + 1)
        if not _backlog:
            logger.warning(
                "Celery broker unreachable: %s is kept in the outbox and sent when it "
                "is back",
                message.task,
            )
        _backlog = True
        return
    OutboxMessage.objects.filter(pk=message.pk).delete()
    if _backlog:
        _backlog = False
        request_delivery()


def request_delivery() -> bool:
    """Ask a worker to publish what the outbox holds now (not at the next beat)."""
    return publish(OutboxMessage(task=DELIVER_TASK))


@shared_task(name=DELIVER_TASK, ignore_result=True)
def deliver() -> int:
    """Publish the outbox's pending rows, oldest first; stop at the first failure."""
    sent = 0
    while True:
        pending = Q(attempts__gt=0) | Q(created__lt=timezone.now() - GRACE)
        if not OutboxMessage.objects.filter(pending).exists():
            return sent  # the usual case: no write transaction at all
        with transaction.atomic():
            batch = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pending)
                .order_by("pk")[:BATCH]
            )
            published = []
            for message in batch:
                if not publish(message):
                    OutboxMessage.objects.filter(pk=message.pk).update(
                        attempts=F("attempts") + 1
                    )
                    break
                published.append(message.pk)
            OutboxMessage.objects.filter(pk__in=published).delete()
        sent += len(published)
        if len(published) < BATCH:
            if sent:
                logger.info("outbox: published %d delayed task(s)", sent)
            return sent
