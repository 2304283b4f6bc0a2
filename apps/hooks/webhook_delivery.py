"""Sending webhook deliveries: signing, retries, order per record, disabling endpoints
that keep failing (docs/webhooks.md).

A delivery is a row (apps.hooks.models.WebhookDelivery). The `deliver` task sends it
once; any number of copies of the task may run (it is published when the write commits,
and the sweep publishes again what seems lost): a conditional UPDATE moves the row from pending
to delivering (with a lease), so only one of them sends, and a delivery that succeeded
is never sent again. A failed attempt schedules the next one (RETRY_SCHEDULE); the
`sweep` beat task publishes deliveries whose time has come, and those whose worker died
mid-attempt (the lease ran out). Within one (webhook, record), deliveries go out one at a
time in the change log's order: a later one waits until every earlier one succeeded or
was given up, and the one that finishes publishes the next.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as Signer

from apps.hooks import webhook_http
from apps.hooks.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

DELIVER_TASK = "baas.webhooks.deliver"
SWEEP_TASK = "baas.webhooks.sweep"
#: seconds to wait after failed attempt 1, 2, ... 8; the 9th attempt is the last,
#: about 27 h 36 min after the first
RETRY_SCHEDULE = (5, 60, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
SWEEP_BATCH = 500
PENDING, DELIVERING = WebhookDelivery.PENDING, WebhookDelivery.DELIVERING
SUCCEEDED, FAILED = WebhookDelivery.SUCCEEDED, WebhookDelivery.FAILED
UNFINISHED = (PENDING, DELIVERING)
DISABLED_ERROR = "Not sent: the endpoint was disabled after sustained failure."


def timeout() -> float:
    return float(settings.BAAS_WEBHOOK_TIMEOUT)


def lease_seconds() -> float:
    """How long an attempt may take before the sweep treats its worker as gone (the
    HTTP exchange is cut at twice the timeout)."""
    return 2 * timeout() + 60


def sign(secret: str, delivery_id: str, at, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(delivery_id, at, body),
    }


def _earlier(delivery: WebhookDelivery) -> Q:
    """Of the deliveries of the same webhook and record: those before this one."""
    return (
        Q(seq__lt=delivery.seq)
        | Q(seq=delivery.seq, created__lt=delivery.created)
        | Q(seq=delivery.seq, created=delivery.created, pk__lt=delivery.pk)
    )


def _waits(delivery: WebhookDelivery) -> bool:
    if not delivery.record_id:
        return False
    return (
        WebhookDelivery.objects.filter(
            webhook_id=delivery.webhook_id,
            collection_id=delivery.collection_id,
            record_id=delivery.record_id,
            state__in=UNFINISHED,
        )
        .filter(_earlier(delivery))
        .exists()
    )


def _claim(delivery: WebhookDelivery, now) -> int | None:
    """Pending (or delivering with its lease run out) -> delivering, if no other
    worker made an attempt since `delivery` was read; the attempt's number, or None."""
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts)
        .filter(Q(state=PENDING) | Q(state=DELIVERING, next_attempt_at__lte=now))
        .update(
            state=DELIVERING,
            attempts=delivery.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=lease_seconds()),
        )
    )
    return delivery.attempts + 1 if claimed else None


@shared_task(name=DELIVER_TASK, ignore_result=True, acks_late=True)
def deliver(delivery_id: str) -> str:
    """Send one delivery (if it is its turn); what happened, for logs and tests."""
    delivery = (
        WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.state not in UNFINISHED:
        return "done"
    webhook = delivery.webhook
    if not webhook.active:
        return "paused"  # kept pending: sent once the webhook is active again
    if _waits(delivery):
        return "waiting"  # the earlier one publishes this one when it finishes
    now = timezone.now()
    attempt = _claim(delivery, now)
    if attempt is None:
        return "taken"
    body = delivery.body.encode()
    outcome = webhook_http.post(
        webhook.url,
        body,
        sign(webhook.secret, delivery.pk, now, body),
        timeout=timeout(),
        allow_private=settings.BAAS_WEBHOOK_ALLOW_PRIVATE,
    )
    return _finish(delivery, webhook, attempt, outcome)


def _summary(outcome: webhook_http.Outcome) -> str:
    if outcome.status is None:
        return outcome.error[:500]
    if 300 <= outcome.status < 400:
        where = f" to {outcome.location}" if outcome.location else ""
        return f"Redirect ({outcome.status}){where} not followed."[:500]
    text = outcome.body[:200].decode("utf-8", "replace").strip()
    return (f"HTTP {outcome.status}" + (f": {text}" if text else ""))[:500]


def _finish(delivery: WebhookDelivery, webhook: Webhook, attempt: int, outcome) -> str:
    """Record the attempt; on a success or when giving up, publish the next delivery
    of the record. Each write stands alone (on SQLite each is a turn of the one
    writer): should the worker die between them, the sweep takes over."""
    now = timezone.now()
    ok = outcome.status is not None and 200 <= outcome.status < 300
    common = {"status_code": outcome.status, "latency_ms": outcome.latency_ms}
    rows = WebhookDelivery.objects.filter(pk=delivery.pk)
    failing = Webhook.objects.filter(pk=webhook.pk)
    if ok:
        rows.update(
            state=SUCCEEDED,
            delivered_at=now,
            next_attempt_at=None,
            last_error="",
            **common,
        )
        if webhook.failing_since is not None:  # as read just before the attempt
            failing.update(failing_since=None)
        state = SUCCEEDED
    else:
        error = _summary(outcome)
        if attempt >= MAX_ATTEMPTS:
            rows.update(state=FAILED, next_attempt_at=None, last_error=error, **common)
            state = FAILED
        else:
            wait = RETRY_SCHEDULE[max(attempt, 1) - 1]
            rows.update(
                state=PENDING,
                next_attempt_at=now + timedelta(seconds=wait),
                last_error=error,
                **common,
            )
            state = PENDING
        log.info("webhook delivery %s failed: %s", delivery.pk, error)
        since = webhook.failing_since
        if since is None:
            failing.filter(failing_since__isnull=True).update(failing_since=now)
            since = now
        if now - since >= timedelta(seconds=float(settings.BAAS_WEBHOOK_DISABLE_AFTER)):
            with transaction.atomic():
                _disable_if_failing(webhook.pk, now)
    if state != PENDING:
        publish_next(delivery, now)
    return state


def publish_next(delivery: WebhookDelivery, now) -> None:
    """After a delivery finished: publish the next of its record, if it is due (one
    that never went out, or whose retry time has come)."""
    if not delivery.record_id:
        return
    following = (
        WebhookDelivery.objects.filter(
            webhook_id=delivery.webhook_id,
            collection_id=delivery.collection_id,
            record_id=delivery.record_id,
            state__in=UNFINISHED,
        )
        .exclude(pk=delivery.pk)
        .order_by("seq", "created", "pk")
        .first()
    )
    if following is None or following.state != PENDING:
        return
    retrying = following.attempts and following.next_attempt_at is not None
    if retrying and following.next_attempt_at > now:
        return  # a retry: the sweep publishes it when its time comes
    with transaction.atomic():
        dispatch([following.pk], now)


def dispatch(delivery_ids: list[str], now) -> None:
    """Publish deliver tasks once the caller's transaction commits; a delivery whose
    task gets lost is published again by the sweep after the lease."""
    WebhookDelivery.objects.filter(pk__in=delivery_ids, state=PENDING).update(
        next_attempt_at=now + timedelta(seconds=lease_seconds())
    )
    publish_on_commit(delivery_ids)


def publish_on_commit(delivery_ids: list[str]) -> None:
    """Once the caller's transaction commits, hand the deliveries to the broker. The
    delivery row is its own outbox: its `next_attempt_at` (the lease) is set in the
    same transaction, so a publish that fails (broker down) or gets lost is made again
    by the sweep when the lease runs out; nothing else is written per delivery."""
    transaction.on_commit(lambda: _publish(delivery_ids), robust=True)


def _publish(delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        try:
            deliver.apply_async((delivery_id,), retry=False)
        except Exception as exc:  # kombu's OperationalError, socket errors: broker down
            log.warning(
                "webhooks: publishing %s failed (%r): the sweep will", delivery_id, exc
            )
            return


def _disable_if_failing(webhook_id: str, now) -> None:
    """Disable an endpoint that has failed with no success for
    BAAS_WEBHOOK_DISABLE_AFTER seconds: it receives no new events, and what was still
    pending is given up (each can be sent again by hand)."""
    from apps.hooks import webhook_service

    after = float(settings.BAAS_WEBHOOK_DISABLE_AFTER)
    webhook = (
        Webhook.objects.select_for_update()
        .filter(
            pk=webhook_id,
            active=True,
            failing_since__lte=now - timedelta(seconds=after),
        )
        .first()
    )
    if webhook is None:
        return
    before = webhook_service.definition(webhook)
    since = webhook_service.rfc3339(webhook.failing_since)
    webhook.active = False
    webhook.disabled_at = now
    webhook.disabled_reason = (
        f"Every attempt failed since {since} (BAAS_WEBHOOK_DISABLE_AFTER: {after:g} s)."
    )
    webhook.save(update_fields=["active", "disabled_at", "disabled_reason", "updated"])
    WebhookDelivery.objects.filter(webhook_id=webhook_id, state=PENDING).update(
        state=FAILED, next_attempt_at=None, last_error=DISABLED_ERROR
    )
    from apps.hooks.webhooks import touch_collections

    touch_collections(webhook.events)
    webhook_service.audit_change(None, None, webhook, before)
    log.warning("webhook %s disabled: %s", webhook_id, webhook.disabled_reason)


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep() -> int:
    """Beat: publish the deliveries that are due (retries, and attempts whose worker
    is gone), the first unfinished one of each record only."""
    now = timezone.now()
    due = WebhookDelivery.objects.filter(
        state__in=UNFINISHED, next_attempt_at__lte=now, webhook__active=True
    )
    if not due.exists():
        return 0  # the usual case: a single indexed query
    earlier = (
        WebhookDelivery.objects.filter(
            webhook_id=OuterRef("webhook_id"),
            collection_id=OuterRef("collection_id"),
            record_id=OuterRef("record_id"),
            state__in=UNFINISHED,
        )
        .exclude(record_id="")
        .filter(
            Q(seq__lt=OuterRef("seq"))
            | Q(seq=OuterRef("seq"), created__lt=OuterRef("created"))
            | Q(seq=OuterRef("seq"), created=OuterRef("created"), pk__lt=OuterRef("pk"))
        )
    )
    with transaction.atomic():
        ids = list(
            due.filter(~Exists(earlier))
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        # a delivery whose worker died goes back to pending, to be claimed again
        WebhookDelivery.objects.filter(pk__in=ids).update(state=PENDING)
        dispatch(ids, now)
    if ids:
        log.info("webhooks: published %d due deliveries", len(ids))
    return len(ids)


def retry(delivery: WebhookDelivery) -> None:
    """A new attempt now, whatever the delivery's state (API: .../retry); it still
    waits for earlier unfinished deliveries of its record."""
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(state=PENDING)
        dispatch([delivery.pk], now)
