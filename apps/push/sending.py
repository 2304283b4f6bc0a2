"""Sending push messages on Celery workers.

`start` resolves a message's targets into one delivery row per device (in chunks, each
committed; a restarted start resumes after the last device it wrote), then `dispatch`
hands the due rows to `send` tasks, one per platform and range of at most BATCH rows.
`tick` (beat, every BAAS_OUTBOX_INTERVAL seconds) starts scheduled messages, dispatches
rows whose moment came (a device's local time, a retry's backoff), and re-dispatches what
a lost task left.

Never twice to one device: a `send` task first takes its rows (`claimed_by` = its task
id, committed) and only then hands them to the provider. Tasks are acknowledged late, so
a worker killed mid-send gives the task back to the broker; when it runs again it finds
the rows it had taken still queued, and since the provider may have delivered them, it
does not send them again: they are `failed` with reason "unconfirmed". Rows not taken yet
are sent as usual, so a crash loses no device either. Provider errors worth retrying
(5xx, 429, network) put the row back with a backoff (the provider's Retry-After when
longer), up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import zoneinfo
from datetime import timedelta

from celery import shared_task
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.push import providers, targets
from apps.push.models import Delivery, Device, Message
from apps.push.providers.base import BATCH, Outgoing, ProviderNotConfigured, Target

log = logging.getLogger(__name__)

START_TASK = "baas.push.start"
SEND_TASK = "baas.push.send"
TICK_TASK = "baas.push.tick"
EXPAND_CHUNK = 2000
MAX_ATTEMPTS = 8
#: seconds before the n-th retry (the provider's Retry-After when it asks for longer)
BACKOFF = (15, 30, 60, 120, 300, 900, 1800)
#: a message whose sends were all dispatched this long ago with rows still due and
#: untaken gets them dispatched again (a lost task)
REDISPATCH_AFTER = timedelta(minutes=2)
UNCONFIRMED = (
    "unconfirmed: the worker stopped while the provider had it; not sent again, "
    "so that no device gets it twice"
)


def _due(now: dt.datetime) -> Q:
    return Q(due_at__isnull=True) | Q(due_at__lte=now)


def local_due(local_time: str, zone_name: str, now: dt.datetime) -> dt.datetime:
    """The next moment the clock shows `local_time` ("HH:MM") in the device's time zone
    (UTC when it registered none)."""
    try:
        zone = zoneinfo.ZoneInfo(zone_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.timezone.utc
    hour, minute = (int(part) for part in local_time.split(":"))
    today = now.astimezone(zone).date()
    for day in (today, today + timedelta(days=1), today + timedelta(days=2)):
        moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
        if moment > now:
            return moment.astimezone(dt.timezone.utc)
    raise AssertionError("unreachable")


# --- start: targets into deliveries ----------------------------------------------------


@shared_task(name=START_TASK, acks_late=True, ignore_result=True)
def start(message_id: str) -> None:
    expand(message_id)
    dispatch(message_id)


def expand(message_id: str) -> None:
    """One delivery row per target device (idempotent; resumes where it stopped)."""
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.expanded or message.state in ("done", "cancelled"):
        return
    now = timezone.now()
    devices = (
        targets.devices(message.to)
        .order_by("id")
        .values_list("id", "user_id", "platform", "timezone")
    )
    after = message.deliveries.aggregate(last=Max("device_id"))["last"] or ""
    while True:
        chunk = list(devices.filter(id__gt=after)[:EXPAND_CHUNK])
        if not chunk:
            break
        rows = [
            Delivery(
                message_id=message.id,
                device_id=device_id,
                user_id=user_id,
                platform=platform,
                due_at=(
                    local_due(message.local_time, zone, now)
                    if message.local_time
                    else None
                ),
            )
            for device_id, user_id, platform, zone in chunk
        ]
        with transaction.atomic():
            Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        after = chunk[-1][0]
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if message.expanded or message.state == "cancelled":
            return
        message.expanded = True
        message.total = message.deliveries.count()
        if not message.local_time:
            message.state, message.started = "sending", now
        message.save(update_fields=["expanded", "total", "state", "started"])
        _finish_if_done(message)


def dispatch(message_id: str) -> int:
    """A send task per platform and range of at most BATCH due, untaken rows."""
    now = timezone.now()
    rows = (
        Delivery.objects.filter(message_id=message_id, state="queued", claimed_by="")
        .filter(_due(now))
        .order_by("platform", "id")
        .values_list("platform", "id")
    )
    batches: list[tuple[str, int, int]] = []
    current: list = []
    for platform, delivery_id in rows.iterator(chunk_size=5000):
        if current and (current[0] != platform or current[3] == BATCH):
            batches.append((current[0], current[1], current[2]))
            current = []
        if not current:
            current = [platform, delivery_id, delivery_id, 0]
        current[2] = delivery_id
        current[3] += 1
    if current:
        batches.append((current[0], current[1], current[2]))
    if batches:
        Message.objects.filter(pk=message_id, state="scheduled").update(
            state="sending", started=now
        )
    Message.objects.filter(pk=message_id).update(dispatched=now)
    for platform, first, last in batches:
        send.apply_async((message_id, platform, first, last))
    return len(batches)


# --- send: one batch to one provider ---------------------------------------------------


def outgoing(message: Message) -> Outgoing:
    options = message.options or {}
    return Outgoing(
        message_id=message.id,
        notification=message.notification or {},
        data=message.data or {},
        ttl=options.get("ttl"),
        collapse_key=options.get("collapse_key"),
        priority=options.get("priority", "high"),
        overrides=options.get("overrides") or {},
    )


@shared_task(name=SEND_TASK, bind=True, acks_late=True, ignore_result=True)
def send(self, message_id: str, platform: str, first: int, last: int) -> None:
    claim = self.request.id or f"eager-{message_id}-{first}"
    rows = Delivery.objects.filter(
        message_id=message_id, platform=platform, id__gte=first, id__lte=last
    )
    # This task ran before and died while the provider had these: never again.
    rows.filter(state="queued", claimed_by=claim).update(
        state="failed", reason=UNCONFIRMED, claimed_by=""
    )
    message = Message.objects.filter(pk=message_id).first()
    if message is None or message.state in ("cancelled", "done"):
        return
    try:
        provider = providers.get(platform)
    except ProviderNotConfigured as exc:
        provider, reason = None, str(exc)
    # Rows are taken in windows of what the provider has in flight at once, so that
    # a crash leaves at most one window unconfirmed.
    window = min(provider.concurrency, BATCH) if provider else BATCH
    while taken := _take(rows, window, claim):
        if provider is None:
            _record({i: ("failed", reason, "", None) for i in taken}, claim)
        else:
            _send(provider, message, taken, claim)
    _finish_if_done(message)


def _take(rows, count: int, claim: str) -> list[int]:
    """Take up to `count` due, untaken rows for this task (committed)."""
    with transaction.atomic():
        taken = list(
            rows.filter(state="queued", claimed_by="")
            .filter(_due(timezone.now()))
            .order_by("id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:count]
        )
        Delivery.objects.filter(id__in=taken, claimed_by="").update(claimed_by=claim)
    return taken


def _send(provider, message: Message, taken: list[int], claim: str) -> None:
    found = Delivery.objects.filter(id__in=taken).values_list(
        "id", "device__token", "device__keys", "device__active"
    )
    batch = [
        Target(delivery_id, token, keys)
        for delivery_id, token, keys, active in found
        if token is not None and active
    ]
    sending = {t.delivery_id for t in batch}
    results: dict[int, tuple[str, str, str, float | None]] = {
        i: ("failed", "the device was unregistered or deactivated", "", None)
        for i in taken
        if i not in sending
    }
    if batch:
        for result in provider.send(outgoing(message), batch):
            results[result.delivery_id] = (
                result.outcome,
                result.reason,
                result.provider_id,
                result.retry_after,
            )
        for target in batch:  # a provider that left one out: try it again
            results.setdefault(
                target.delivery_id, ("retry", "no answer from the provider", "", None)
            )
    _record(results, claim)


def _record(results: dict, claim: str) -> None:
    """Store each row's outcome (one transaction, one prepared UPDATE for all rows:
    Django's bulk_update builds a CASE per field and row, slower than the sends);
    deactivate the devices the provider says are gone."""
    now = timezone.now()
    rows = {
        row_id: (attempts, device_id)
        for row_id, attempts, device_id in Delivery.objects.filter(
            id__in=list(results), claimed_by=claim
        ).values_list("id", "attempts", "device_id")
    }
    adapt = connection.ops.adapt_datetimefield_value
    params, dead = [], {}
    for row_id, (outcome, reason, provider_id, retry_after) in results.items():
        if row_id not in rows:
            continue
        attempts, device_id = rows[row_id][0] + 1, rows[row_id][1]
        state, due, sent = outcome, None, None
        if outcome == "retry":
            if attempts >= MAX_ATTEMPTS:
                state, reason = "failed", f"gave up after {attempts} attempts: {reason}"
            else:
                wait = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
                state = "queued"
                due = now + timedelta(seconds=max(wait, retry_after or 0))
        elif outcome == "sent":
            sent = now
        elif outcome == "invalid_token" and device_id:
            dead.setdefault(reason or "the provider rejected the token", []).append(
                device_id
            )
        params.append(
            (
                state,
                reason[:500],
                provider_id[:300],
                attempts,
                adapt(due),
                adapt(sent),
                row_id,
                claim,
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(_RECORD_SQL(), params)
        for reason, device_ids in dead.items():
            Device.objects.filter(pk__in=device_ids).update(
                active=False, deactivated_reason=reason[:300]
            )


@functools.cache
def _RECORD_SQL() -> str:  # noqa: N802
    q = connection.ops.quote_name
    return (
        f"UPDATE {q(Delivery._meta.db_table)} SET {q('state')} = %s, "
        f"{q('reason')} = %s, {q('provider_id')} = %s, {q('attempts')} = %s, "
        f"{q('claimed_by')} = '', {q('due_at')} = COALESCE(%s, {q('due_at')}), "
        f"{q('sent_at')} = COALESCE(%s, {q('sent_at')}) "
        f"WHERE {q('id')} = %s AND {q('claimed_by')} = %s"
    )


def _finish_if_done(message: Message) -> None:
    """Done once every row has its result: `push.message.finished` to webhooks."""
    from apps.hooks.webhooks import queue_event
    from apps.push.messages import counts

    with transaction.atomic():
        current = Message.objects.select_for_update().filter(pk=message.pk).first()
        if (
            current is None
            or not current.expanded
            or current.state not in ("scheduled", "sending")
            or current.deliveries.filter(state="queued").exists()
        ):
            return
        current.state, current.finished = "done", timezone.now()
        current.save(update_fields=["state", "finished"])
        queue_event(
            "push.message.finished",
            current.pk,
            {
                "message": {"id": current.pk, "total": current.total},
                "counts": counts(current),
            },
        )


# --- tick: scheduled messages, due rows, lost tasks ---------------------------------------


@shared_task(name=TICK_TASK, ignore_result=True)
def tick() -> None:
    now = timezone.now()
    stale = now - REDISPATCH_AFTER
    # Scheduled messages whose time came: taken by this tick only, then started.
    for message_id in Message.objects.filter(
        state="scheduled", expanded=False, local_time="", send_at__lte=now
    ).values_list("id", flat=True):
        if Message.objects.filter(pk=message_id, state="scheduled").update(
            state="sending", started=now
        ):
            start.apply_async((message_id,))
    # A start that was lost or died half-way (its rows are kept; it resumes).
    lost = Message.objects.filter(
        expanded=False, state__in=("scheduled", "sending"), created__lte=stale
    ).filter(Q(started__isnull=True, send_at__isnull=True) | Q(started__lte=stale))
    for message_id in lost.values_list("id", flat=True):
        start.apply_async((message_id,))
    # Rows whose moment came (local times, retries), or that a lost task left.
    waiting = (
        Delivery.objects.filter(
            state="queued",
            claimed_by="",
            message__state__in=("scheduled", "sending"),
            message__expanded=True,
        )
        .filter(_due(now))
        .values_list("message_id", flat=True)
        .distinct()
    )
    for message in Message.objects.filter(pk__in=list(waiting)):
        last = message.dispatched
        if (
            last is None
            or last <= stale
            or message.deliveries.filter(
                state="queued", claimed_by="", due_at__gt=last, due_at__lte=now
            ).exists()
        ):
            dispatch(message.id)
    for message in Message.objects.filter(state="sending", expanded=True):
        _finish_if_done(message)
