"""Background tasks of collections."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="baas.collections.prune_changes")
def prune_changes() -> int:
    """Prune the change log (apps.collections.changelog.prune); idempotent."""
    from apps.collections import changelog

    return changelog.prune()
