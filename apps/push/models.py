"""Push notifications: devices and their topics, topic rules, messages, and one
delivery row per (message, device) that carries the device's result."""

from django.conf import settings
from django.db import models

from apps.core.ids import new_id

PLATFORMS = (("fcm", "FCM"), ("apns", "APNs"), ("webpush", "Web Push"))


class Device(models.Model):
    """A registered app install or browser subscription of a user."""

    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_devices"
    )
    platform = models.CharField(max_length=8, choices=PLATFORMS)
    #: FCM registration token, APNs device token (hex) or Web Push endpoint URL
    token = models.TextField()
    #: sha256 of platform and token: one row per token, whoever registers it last
    token_hash = models.CharField(max_length=64, unique=True)
    keys = models.JSONField(null=True, blank=True)  # Web Push: p256dh, auth
    app_version = models.CharField(max_length=50, blank=True, default="")
    locale = models.CharField(max_length=35, blank=True, default="")
    timezone = models.CharField(max_length=64, blank=True, default="")
    active = models.BooleanField(default=True)
    #: why the device stopped receiving (the provider's answer), when it did
    deactivated_reason = models.CharField(max_length=300, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "active"], name="push_device_user")]


class DeviceTopic(models.Model):
    """A device's subscription to a topic."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="topics")
    topic = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["device", "topic"], name="push_device_topic_unique"
            )
        ]
        indexes = [models.Index(fields=["topic", "device"], name="push_topic_device")]


class Topic(models.Model):
    """Who may subscribe to a topic (or to topics with a name prefix: `news-*`, or any:
    `*`): a rule in the one expression language, with `@request.auth.*` and
    `@topic.name`. A topic no entry matches is for superusers only."""

    name = models.CharField(max_length=100, unique=True)
    subscribe_rule = models.TextField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)


class Message(models.Model):
    """One message to many devices; its deliveries hold the per-device results."""

    STATES = (
        ("scheduled", "scheduled"),
        ("sending", "sending"),
        ("done", "done"),
        ("cancelled", "cancelled"),
    )
    id = models.CharField(
        primary_key=True, max_length=15, default=new_id, editable=False
    )
    state = models.CharField(max_length=10, choices=STATES, default="scheduled")
    to = models.JSONField()
    notification = models.JSONField(default=dict, blank=True)
    data = models.JSONField(default=dict, blank=True)
    #: ttl, collapse_key, priority, overrides
    options = models.JSONField(default=dict, blank=True)
    send_at = models.DateTimeField(null=True, blank=True)
    local_time = models.CharField(max_length=5, blank=True, default="")  # "HH:MM"
    created_by = models.CharField(max_length=254, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    #: every delivery row exists (the targets were resolved)
    expanded = models.BooleanField(default=False)
    #: when send tasks were last handed out (apps.push.sending.tick)
    dispatched = models.DateTimeField(null=True, blank=True)
    total = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["state", "send_at"], name="push_message_due")]


class Delivery(models.Model):
    """One message to one device: queued until a provider answers, then its result."""

    STATES = (
        ("queued", "queued"),
        ("sent", "sent"),
        ("failed", "failed"),
        ("invalid_token", "invalid_token"),
        ("opened", "opened"),
    )
    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="deliveries"
    )
    #: NULL once the device is deleted (its result stays)
    device = models.ForeignKey(
        Device, on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    user_id = models.CharField(max_length=15, db_index=True)
    platform = models.CharField(max_length=8, choices=PLATFORMS)
    state = models.CharField(max_length=14, choices=STATES, default="queued")
    reason = models.CharField(max_length=500, blank=True, default="")
    provider_id = models.CharField(max_length=300, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    #: when this device's send is due (a local time, a retry); NULL: now
    due_at = models.DateTimeField(null=True, blank=True)
    #: the send task that took it, while the provider has it (see apps.push.sending)
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "device"], name="push_delivery_unique"
            )
        ]
        indexes = [
            models.Index(fields=["message", "state"], name="push_delivery_state"),
            models.Index(fields=["state", "due_at"], name="push_delivery_due"),
        ]
