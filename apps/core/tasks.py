"""Core background tasks."""

from __future__ import annotations

import os
from pathlib import Path

from celery import shared_task
from django.conf import settings

from apps.core.mail import send_email  # noqa: F401  (registered with the worker)
from apps.core.outbox import deliver  # noqa: F401  (registered with the worker)


@shared_task(name="baas.core.touch")
def touch(path: str) -> str:
    """Write the worker's pid to `path` (inside the data directory): proof that jobs run."""
    target = Path(path).resolve()
    if not target.is_relative_to(Path(settings.DATA_DIR).resolve()):
        raise ValueError("touch writes inside the data directory only")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, target)
    return str(target)


PRUNE_BATCH = 5000


@shared_task(name="baas.core.prune_idempotency_records")
def prune_idempotency_records() -> int:
    """Delete stored Idempotency-Key responses older than BAAS_IDEMPOTENCY_TTL.

    In batches, so a large backlog never holds a long lock; lookups ignore expired rows
    anyway, so running late is harmless.
    """
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.models import IdempotencyRecord

    cutoff = timezone.now() - timedelta(seconds=settings.BAAS_IDEMPOTENCY_TTL)
    expired = IdempotencyRecord.objects.filter(created__lt=cutoff)
    total = 0
    while True:
        batch = list(expired.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not batch:
            return total
        total += IdempotencyRecord.objects.filter(pk__in=batch).delete()[0]
