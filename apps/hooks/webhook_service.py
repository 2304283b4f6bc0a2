"""Managing webhooks (superusers and `webhooks` keys; API.md "Hooks, jobs and webhooks"):
create, change, delete, list their deliveries, send one again.

Every change touches the collections the webhook names, in its transaction, so every
process's subscriptions follow (apps.hooks.webhooks), and is written to the audit log
without the secret. The secret is made here and returned once, by the create.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.permissions import has_scope
from apps.core import paging
from apps.core.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from apps.hooks import webhook_delivery, webhook_http
from apps.hooks.models import Webhook, WebhookDelivery
from apps.hooks.webhooks import OTHER_EVENTS, SYSTEM, rfc3339, touch_collections

SCOPE = "webhooks"
MAX_WEBHOOKS = 100
MAX_EVENTS = 50
MAX_FILTER = 2000
ACTIONS = ("create", "update", "delete", "*")
FIELDS = frozenset({"url", "events", "filter", "active"})
ID = re.compile(r"[a-z0-9]{15}")
STATES = tuple(state for state, _ in WebhookDelivery.STATES)


def require_access(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    if not has_scope(actor, SCOPE):
        raise Forbidden("Only superusers and API keys with the `webhooks` scope.")


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def to_json(webhook: Webhook) -> dict:
    """A webhook as the API shows it: never its secret."""
    return {
        "id": webhook.pk,
        "url": webhook.url,
        "events": list(webhook.events),
        "filter": webhook.filter,
        "active": webhook.active,
        "created": _time(webhook.created),
        "updated": _time(webhook.updated),
        "failing_since": _time(webhook.failing_since),
        "disabled_at": _time(webhook.disabled_at),
        "disabled_reason": webhook.disabled_reason or None,
    }


def definition(webhook: Webhook) -> dict:
    """What the audit log keeps of a webhook (no secret, no timestamps)."""
    return {
        "url": webhook.url,
        "events": list(webhook.events),
        "filter": webhook.filter,
        "active": webhook.active,
        "disabled_reason": webhook.disabled_reason or None,
    }


def audit_change(actor, request, webhook: Webhook, before, *, deleted=False) -> None:
    """`webhook.create|update|delete` in the caller's transaction (none for no change;
    the server disabling an endpoint is an update by `system`)."""
    from apps.hooks import audit

    after = None if deleted else definition(webhook)
    if before is None:
        action = "webhook.create"
    elif deleted:
        action = "webhook.delete"
    elif before == after:
        return
    else:
        action = "webhook.update"
    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("webhook", webhook.pk, webhook.url[:254]),
        before=before,
        after=after,
        request=request,
    )


# --- validation ---------------------------------------------------------------------


class FilterResolver:
    """A webhook filter names the collection's fields (every one) and `@now`; there is
    no request behind a delivery, so no `@request.*`."""

    def __init__(self, spec) -> None:
        from apps.collections.access import Access
        from apps.collections.rule_fields import RecordResolver

        self.inner = RecordResolver(Access(SYSTEM, spec), client=False)

    def resolve(self, path):
        return self.inner.resolve(path)

    def check_macro(self, macro) -> None:
        from apps.rules.compiler import RuleError

        if macro.source != "now":
            raise RuleError("Webhook filters have no @request (only @now)", macro.pos)


def _event(text) -> str:
    """An event name as stored (the collection's own spelling), or a 400."""
    from apps.collections.models import Collection
    from apps.collections.names import MAX_NAME, name_key

    if not isinstance(text, str):
        raise InvalidInput("Events are names like posts.create.", param="events")
    if text in OTHER_EVENTS:
        return text
    collection, _, action = text.rpartition(".")
    if action not in ACTIONS or not collection:
        raise InvalidInput(
            f"Unknown event {text[:100]!r}: use <collection>.create, .update, .delete "
            f"or .*, or one of {sorted(OTHER_EVENTS)}.",
            code="invalid_event",
            param="events",
        )
    row = (
        Collection.objects.filter(name_key=name_key(collection)).first()
        if len(collection) <= MAX_NAME
        else None
    )
    if row is None:
        raise InvalidInput(
            f"Unknown event {text[:100]!r}: there is no collection named "
            f"{collection[:70]!r}.",
            code="invalid_event",
            param="events",
        )
    return f"{row.name}.{action}"


def _events(value) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(
            "events is a list of event names (at least one).", param="events"
        )
    if len(value) > MAX_EVENTS:
        raise InvalidInput(f"At most {MAX_EVENTS} events.", param="events")
    events: list[str] = []
    for item in value:
        event = _event(item)
        if event not in events:
            events.append(event)
    return events


def _check_filter(text: str | None, events: list[str]) -> None:
    """The filter must fit every collection the events name (400 with the position)."""
    from apps.collections.services import get_spec
    from apps.rules.compiler import check
    from apps.rules.parser import RuleSyntaxError, parse

    if text is None:
        return
    names = [e.rsplit(".", 1)[0] for e in events if e not in OTHER_EVENTS]
    if not names:
        raise InvalidInput(
            "A filter applies to record events; these events have no record.",
            code="invalid_filter",
            param="filter",
        )
    for name in dict.fromkeys(names):
        try:
            check(parse(text), FilterResolver(get_spec(name)))
        except RuleSyntaxError as exc:
            raise InvalidInput(
                f"Invalid filter for {name}: {exc}",
                code="invalid_filter",
                param="filter",
            ) from None
        except NotFound:
            continue  # a collection dropped since the event was stored


def _clean(data, *, partial: bool) -> dict:
    if not isinstance(data, dict):
        raise InvalidInput("A webhook is a JSON object.", code="invalid_type")
    for name in data:
        if name == "secret":
            raise InvalidInput(
                "The secret is made by the server (shown once, at creation).",
                param="secret",
            )
        if name not in FIELDS:
            raise InvalidInput(f"Unknown webhook property {name!r}.", param=name)
    clean: dict = {}
    if "url" in data or not partial:
        try:
            clean["url"] = webhook_http.check_url(
                data.get("url"), allow_private=settings.BAAS_WEBHOOK_ALLOW_PRIVATE
            )
        except webhook_http.Refused as exc:
            raise InvalidInput(str(exc), code="invalid_url", param="url") from None
    if "events" in data or not partial:
        clean["events"] = _events(data.get("events"))
    if "filter" in data:
        text = data["filter"]
        if text is not None and not isinstance(text, str):
            raise InvalidInput(
                "filter is an expression (text) or null.", param="filter"
            )
        if text is not None and len(text) > MAX_FILTER:
            raise InvalidInput(
                f"filter is longer than {MAX_FILTER} characters.", param="filter"
            )
        clean["filter"] = text or None
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise InvalidInput("active is true or false.", param="active")
        clean["active"] = data["active"]
    return clean


# --- webhooks -----------------------------------------------------------------------


def _get(webhook_id: str, *, lock: bool = False) -> Webhook:
    rows = Webhook.objects.select_for_update() if lock else Webhook.objects
    webhook = (
        rows.filter(pk=webhook_id).first()
        if isinstance(webhook_id, str) and ID.fullmatch(webhook_id)
        else None
    )
    if webhook is None:
        raise NotFound("No such webhook.", code="webhook_not_found")
    return webhook


def webhook_list(*, actor) -> list[dict]:
    require_access(actor)
    return [to_json(w) for w in Webhook.objects.all()]


def webhook_get(*, actor, webhook_id: str) -> dict:
    require_access(actor)
    return to_json(_get(webhook_id))


def webhook_create(*, actor, data, request=None) -> dict:
    """The webhook, with its `secret` (the only time it is shown)."""
    require_access(actor)
    clean = _clean(data, partial=False)
    _check_filter(clean.get("filter"), clean["events"])
    if Webhook.objects.count() >= MAX_WEBHOOKS:
        raise InvalidInput(f"At most {MAX_WEBHOOKS} webhooks.", code="too_many")
    secret = new_secret()
    with transaction.atomic():
        webhook = Webhook.objects.create(**clean, secret=secret)
        touch_collections(webhook.events)
        audit_change(actor, request, webhook, None)
    return {**to_json(webhook), "secret": secret}


def webhook_update(*, actor, webhook_id: str, data, request=None) -> dict:
    """Change url, events, filter or active; `active: true` on a disabled webhook
    enables it again (its failure record cleared)."""
    require_access(actor)
    clean = _clean(data, partial=True)
    with transaction.atomic():
        webhook = _get(webhook_id, lock=True)
        before, old_events = definition(webhook), list(webhook.events)
        enabling = clean.get("active") is True and not webhook.active
        for key, value in clean.items():
            setattr(webhook, key, value)
        _check_filter(webhook.filter, webhook.events)
        if enabling:
            webhook.failing_since = webhook.disabled_at = None
            webhook.disabled_reason = ""
        webhook.save()
        touch_collections(old_events, webhook.events)
        audit_change(actor, request, webhook, before)
    return to_json(webhook)


def webhook_delete(*, actor, webhook_id: str, request=None) -> None:
    """The webhook and its delivery log; deliveries not yet sent are dropped."""
    require_access(actor)
    with transaction.atomic():
        webhook = _get(webhook_id, lock=True)
        before = definition(webhook)
        audit_change(actor, request, webhook, before, deleted=True)
        webhook.delete()
        touch_collections(before["events"])


# --- deliveries ---------------------------------------------------------------------


def delivery_json(delivery: WebhookDelivery, *, payload: bool = False) -> dict:
    retry_at = delivery.next_attempt_at if delivery.state == "pending" else None
    item = {
        "id": delivery.pk,
        "webhook": delivery.webhook_id,
        "type": delivery.event_type,
        "collection_id": delivery.collection_id or None,
        "record_id": delivery.record_id or None,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "status_code": delivery.status_code,
        "latency_ms": delivery.latency_ms,
        "last_error": delivery.last_error or None,
        "next_attempt_at": _time(retry_at),
        "created": _time(delivery.created),
        "last_attempt_at": _time(delivery.last_attempt_at),
        "delivered_at": _time(delivery.delivered_at),
    }
    if payload:
        item["payload"] = orjson.loads(delivery.body)
    return item


def delivery_list(*, actor, webhook_id: str, params) -> dict:
    """Newest first, paged (apps.core.paging: `limit`, `cursor`), optionally one
    `state`: `{"items": [...], "next_cursor": ... | null}`."""
    require_access(actor)
    webhook = _get(webhook_id)
    rows = WebhookDelivery.objects.filter(webhook=webhook)
    state = params.get("state") or None
    if state is not None:
        if state not in STATES:
            raise InvalidInput(f"state is one of {', '.join(STATES)}.", param="state")
        rows = rows.filter(state=state)
    page, next_cursor = paging.newest_first(rows, "created", params)
    return {"items": [delivery_json(d) for d in page], "next_cursor": next_cursor}


def _delivery(webhook: Webhook, delivery_id: str) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.filter(webhook=webhook, pk=delivery_id).first()
        if isinstance(delivery_id, str) and ID.fullmatch(delivery_id)
        else None
    )
    if delivery is None:
        raise NotFound("No such delivery.", code="delivery_not_found")
    return delivery


def delivery_get(*, actor, webhook_id: str, delivery_id: str) -> dict:
    require_access(actor)
    return delivery_json(_delivery(_get(webhook_id), delivery_id), payload=True)


def delivery_retry(*, actor, webhook_id: str, delivery_id: str) -> dict:
    """Send a delivery again now (any state; the same `webhook-id`)."""
    require_access(actor)
    webhook = _get(webhook_id)
    delivery = _delivery(webhook, delivery_id)
    if not webhook.active:
        raise Conflict(
            "The webhook is not active; enable it (PATCH active: true) first.",
            code="webhook_inactive",
        )
    in_flight = delivery.state == WebhookDelivery.DELIVERING and (
        delivery.next_attempt_at is None or delivery.next_attempt_at > timezone.now()
    )
    if in_flight:
        raise Conflict(
            "The delivery is being sent right now.", code="delivery_in_progress"
        )
    webhook_delivery.retry(delivery)
    delivery.refresh_from_db()
    return delivery_json(delivery)
