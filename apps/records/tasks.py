"""Background tasks of collections."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="baas.collections.prune_changes")
def prune_changes() -> int:
    """Prune the change log (apps.records.changelog.prune); idempotent."""
    from apps.records import changelog

    return changelog.prune()
