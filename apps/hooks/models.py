"""Models of server-side code: the audit log (webhooks and job runs join later)."""

from __future__ import annotations

from django.db import models

from apps.core.ids import new_id


class AuditEntry(models.Model):
    """One administrative change (schema, rules, keys, logins, deletions): who, when,
    what, and the definition before and after it (apps.hooks.audit). Never a secret."""

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    #: millisecond precision, as the API shows it (so `since`/`until` compare exactly)
    at = models.DateTimeField(db_index=True)
    #: "user", "apikey" or "system" (no actor: command line, tasks, migrations)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    #: a user's email, a key's name, the service's name
    actor_label = models.CharField(max_length=254, blank=True, default="")
    #: stable dotted name: `collection.update`, `apikey.revoke`, ...
    action = models.CharField(max_length=64)
    target_kind = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_name = models.CharField(max_length=254, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    #: {path: {"before": ..., "after": ...}} for every value that differs
    diff = models.JSONField(default=dict, blank=True)
    client_address = models.CharField(max_length=45, null=True, blank=True)

    class Meta:
        db_table = "baas_audit_log"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["action", "at"], name="baas_audit_action_at"),
            models.Index(fields=["actor_id", "at"], name="baas_audit_actor_at"),
            models.Index(fields=["target_id", "at"], name="baas_audit_target_at"),
            models.Index(fields=["target_name", "at"], name="baas_audit_tname_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_name}"


class JobRun(models.Model):
    """One run of a background task (hooks, mail, thumbnails, push fan-out...), kept
    from Celery's own signals (apps.hooks.jobs): queued, started, retried, finished."""

    QUEUED, STARTED, RETRYING = "queued", "started", "retrying"
    SUCCEEDED, FAILED = "succeeded", "failed"
    STATES = (QUEUED, STARTED, RETRYING, SUCCEEDED, FAILED)

    #: Celery's task id (a retry by Celery keeps it; `POST /jobs/{id}/retry` makes a new
    #: run whose `retry_of` is this one)
    id = models.CharField(primary_key=True, max_length=64)
    task = models.CharField(max_length=200)
    state = models.CharField(max_length=10, default=QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    queued_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    next_attempt_at = models.DateTimeField(null=True)
    error = models.TextField(blank=True, default="")
    retry_of = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "baas_job_runs"
        indexes = [
            models.Index(fields=["state", "queued_at"], name="baas_jobs_state"),
            models.Index(fields=["task", "queued_at"], name="baas_jobs_task"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.id} {self.state}"


class Webhook(models.Model):
    """An HTTP endpoint that receives signed record events (apps.hooks.webhooks,
    docs/webhooks.md). `secret` is shown once, when the webhook is created."""

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    url = models.CharField(max_length=2048)
    #: ["posts.create", "posts.*", "push.message.finished", ...]
    events = models.JSONField(default=list)
    #: an expression of the rules language, tested on the record; null: every record
    filter = models.TextField(null=True, blank=True)
    active = models.BooleanField(default=True)
    #: `whsec_<base64>`: the Standard Webhooks signing key (never shown again)
    secret = models.CharField(max_length=100)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    #: the first failed attempt since the last success (None: not failing)
    failing_since = models.DateTimeField(null=True, blank=True)
    #: set when the server disabled the endpoint after sustained failure
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "baas_webhooks"
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} {self.url}"


class WebhookDelivery(models.Model):
    """One event for one webhook, and how sending it went. Per (webhook, record) the
    deliveries go out one at a time in `seq` order (the change log's order)."""

    PENDING = "pending"
    DELIVERING = "delivering"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # gave up (or the endpoint was disabled)
    STATES = [(s, s) for s in (PENDING, DELIVERING, SUCCEEDED, FAILED)]

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=100)  # `posts.create`
    collection_id = models.CharField(max_length=15, blank=True, default="")
    record_id = models.CharField(max_length=64, blank=True, default="")
    #: the change's position in the change log: the order within one record
    seq = models.BigIntegerField(default=0)
    #: the JSON body exactly as sent (the same bytes on every attempt)
    body = models.TextField()
    state = models.CharField(max_length=12, choices=STATES, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    #: when the next attempt is due (pending), or the lease of the attempt in flight
    #: (delivering); None once finished
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "baas_webhook_deliveries"
        indexes = [
            models.Index(
                fields=["webhook", "record_id", "seq"], name="baas_whd_record_order"
            ),
            models.Index(fields=["webhook", "-created", "-id"], name="baas_whd_newest"),
            models.Index(fields=["state", "next_attempt_at"], name="baas_whd_due"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} {self.event_type} ({self.state})"
