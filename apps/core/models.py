"""Core tables: stored responses for Idempotency-Key (apps.core.idempotency) and the
outbox of background work (apps.core.outbox)."""

from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a mutating request that carried an Idempotency-Key.

    Nothing here reveals the key, the caller, the request or the response: `key_hash` and
    `request_hash` are keyed hashes, `response` is AES-GCM ciphertext under a key derived
    from the Idempotency-Key itself and SECRET_KEY (a stored login response holds tokens).
    """

    key_hash = models.CharField(max_length=64, unique=True)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.BinaryField()
    created = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "baas_idempotency_record"

    def __str__(self) -> str:
        return f"idempotency {self.key_hash[:12]} ({self.status})"


class OutboxMessage(models.Model):
    """A task to publish to the Celery broker, written in the transaction that asked for it.

    Deleted once the broker has taken it; a row that stays was not published (the broker
    was down) and is published later by the `baas.core.outbox.deliver` beat task.
    """

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "baas_outbox_message"

    def __str__(self) -> str:
        return f"outbox {self.pk} {self.task}"
