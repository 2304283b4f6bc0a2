"""Webhooks on the record write path: which writes they subscribe to, and queueing a
delivery per matching webhook in the write's own transaction (docs/webhooks.md).

`subscribed` runs on every create, update and delete, so it must not query. Each process
keeps, per collection, the subscriptions it computed and the spec object it computed
them for; the write path hands in the current spec, which is a new object whenever the
collection's stamp moved (apps/collections/dynamic/cache.py). A webhook change touches
the stamp (`updated`) of every collection it names, in its own transaction, so every
process recomputes on its next write there, and no process queries otherwise.

Deliveries are rows written beside the record change, each its own outbox entry: published
once the write commits, and again by the sweep if that publish fails (a broker that is
down delays them; a write that rolls back leaves none). Sending is apps.hooks.webhook_delivery's.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from datetime import timedelta

import orjson
from django.utils import timezone

from apps.accounts.apikeys import KeyPrincipal
from apps.collections.names import name_key
from apps.collections.spec import CollectionSpec
from apps.hooks import webhook_delivery
from apps.hooks.models import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

RECORD_ACTIONS = ("create", "update", "delete")
#: events of other sources (`queue_event`)
OTHER_EVENTS = frozenset({"push.message.finished"})
#: how server code sees records: every field, past every rule
SYSTEM = KeyPrincipal(key_id="", name="webhooks", scopes=frozenset({"records:read"}))


@dataclass(frozen=True)
class Subscriber:
    webhook_id: str
    filter: str | None


#: collection id -> (the spec they were computed for, {action: subscribers})
_subscriptions: dict[str, tuple[CollectionSpec, dict[str, tuple[Subscriber, ...]]]] = {}


def subscribed(action: str, spec: CollectionSpec) -> bool:
    """Whether an active webhook wants `<collection>.<action>` events."""
    entry = _subscriptions.get(spec.id)
    if entry is None or entry[0] is not spec:
        entry = _load(spec)
    return action in entry[1]


def event_actions(event: str, collection_key: str) -> tuple[str, ...]:
    """The record actions an event name subscribes to in the collection whose
    `name_key` is `collection_key`."""
    if event in OTHER_EVENTS or "." not in event:
        return ()
    collection, action = event.rsplit(".", 1)
    if name_key(collection) != collection_key:
        return ()
    return RECORD_ACTIONS if action == "*" else (action,)


def _load(spec: CollectionSpec):
    key = name_key(spec.name)
    found: dict[str, dict[str, Subscriber]] = {}
    rows = Webhook.objects.filter(active=True).values_list("id", "events", "filter")
    for webhook_id, events, text in rows:
        for event in events or ():
            for action in event_actions(event, key):
                found.setdefault(action, {})[webhook_id] = Subscriber(
                    webhook_id, text or None
                )
    entry = (spec, {a: tuple(subs.values()) for a, subs in found.items()})
    _subscriptions[spec.id] = entry
    return entry


def collection_keys(events) -> set[str]:
    """The `name_key`s of the collections a list of event names reaches."""
    keys = set()
    for event in events or ():
        if isinstance(event, str) and "." in event and event not in OTHER_EVENTS:
            keys.add(name_key(event.rsplit(".", 1)[0]))
    return keys


def touch_collections(*event_lists) -> None:
    """Move the stamp of every collection the events name (in the caller's
    transaction): each process then recomputes its subscriptions there."""
    from apps.collections.models import Collection

    keys = set().union(*(collection_keys(events) for events in event_lists))
    if keys:
        Collection.objects.filter(name_key__in=keys).update(updated=timezone.now())


# --- queueing ---------------------------------------------------------------------------


def rfc3339(value: dt.datetime) -> str:
    value = value.astimezone(dt.timezone.utc)
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_default(value):
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def event_body(event_type: str, now: dt.datetime, record: dict, old) -> str:
    """The request body of a delivery (API.md): type, timestamp, data.record (and
    data.old for an update)."""
    data = {"record": record}
    if old is not None:
        data["old"] = old
    payload = {"type": event_type, "timestamp": rfc3339(now), "data": data}
    return orjson.dumps(payload, default=_json_default).decode()


def _seq(token: str) -> int:
    """The change's place in the change log (a delivery's order within its record)."""
    from apps.core.exceptions import InvalidInput
    from apps.records.changelog import decode_token

    try:
        return decode_token(token)[1]
    except (InvalidInput, TypeError):
        return 0


class _Filters:
    """Webhook filters tested on the stored row of one change (read once, if needed)."""

    def __init__(self, spec: CollectionSpec, record_id: str) -> None:
        self.spec, self.record_id = spec, record_id
        self._row: dict | None = None
        self._access = None

    def passes(self, text: str) -> bool:
        from apps.collections.access import Access
        from apps.collections.dynamic import cache
        from apps.collections.rule_fields import RecordResolver
        from apps.records import changelog
        from apps.rules.compiler import evaluate
        from apps.rules.parser import RuleSyntaxError, parse
        from apps.rules.values import NotComparable

        if self._access is None:
            self._access = Access(SYSTEM, self.spec)
            model = cache.model_for(self.spec)
            rows = changelog.load_rows(self.spec, model, [self.record_id])
            self._row = rows.get(self.record_id)
        if self._row is None:
            return False
        try:
            resolver = RecordResolver(self._access, client=False)
            return evaluate(parse(text), resolver, self._access.ctx, self._row)
        except (RuleSyntaxError, NotComparable, ValueError, TypeError):
            # a filter the schema has outgrown (a field removed): never a failed write
            log.warning("webhook filter %r no longer fits %s", text, self.spec.name)
            return False


def queue(
    action: str,
    spec: CollectionSpec,
    *,
    record_id: str,
    data: dict | None,
    old: dict | None,
    token: str,
    auth,
) -> None:
    """In the write's transaction: a delivery per matching webhook, published to a
    worker once the write commits. Filters are tested on the record as written (on
    the record as it was, for a delete)."""
    entry = _subscriptions.get(spec.id)
    if entry is None or entry[0] is not spec:
        entry = _load(spec)
    subscribers = entry[1].get(action)
    record = old if action == "delete" else data
    if not subscribers or record is None:
        return
    filters = _Filters(spec, record_id)
    now = timezone.now()
    event_type = f"{spec.name}.{action}"
    body = event_body(event_type, now, record, old if action == "update" else None)
    seq = _seq(token)
    grace = now + timedelta(seconds=webhook_delivery.lease_seconds())
    queued = []
    for subscriber in subscribers:
        if subscriber.filter and not filters.passes(subscriber.filter):
            continue
        delivery = WebhookDelivery.objects.create(
            webhook_id=subscriber.webhook_id,
            event_type=event_type,
            collection_id=spec.id,
            record_id=record_id,
            seq=seq,
            body=body,
            created=now,
            next_attempt_at=grace,  # the sweep's, should this first publish be lost
        )
        queued.append(delivery.pk)
    if queued:
        webhook_delivery.publish_on_commit(queued)


def queue_event(event_type: str, subject_id: str, data: dict) -> None:
    """In the caller's transaction: a delivery of an event that is not a record
    change (OTHER_EVENTS, e.g. `push.message.finished`) to every active webhook that
    lists it, published once the transaction commits."""
    now = timezone.now()
    body = orjson.dumps(
        {"type": event_type, "timestamp": rfc3339(now), "data": data},
        default=_json_default,
    ).decode()
    grace = now + timedelta(seconds=webhook_delivery.lease_seconds())
    queued = []
    for webhook_id, events in Webhook.objects.filter(active=True).values_list(
        "id", "events"
    ):
        if event_type in (events or ()):
            delivery = WebhookDelivery.objects.create(
                webhook_id=webhook_id,
                event_type=event_type,
                record_id=subject_id,
                body=body,
                created=now,
                next_attempt_at=grace,
            )
            queued.append(delivery.pk)
    if queued:
        webhook_delivery.publish_on_commit(queued)
