"""Which subscriber receives which event (DESIGN.md decision 7).

A realtime process reads the change log in order (apps.records.changelog.read_all) and
hands each batch here, with its subscribers grouped by identity. For each collection the
batch touched: the changed rows are read once; for each identity the view rule is tested in
memory (one query per identity and batch instead when the rule reaches into other
collections), the record is rendered with the fields that identity may read, and encoded
once per distinct rendering; each subscription's filter is then tested on the row.
Records are sent as they are now, like delta sync (apps.records.changes): several changes
of one record in a batch are one event. A delete carries the id alone and reaches those
who could view the record just before it was deleted.

Everything here runs in the hub's database thread; nothing here touches sockets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson

from apps.collections.access import Access
from apps.collections.dynamic import cache
from apps.collections.field_types import get_type
from apps.collections.models import Change
from apps.collections.rule_fields import RecordResolver
from apps.collections.services import get_spec_by_id
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import NotFound
from apps.records import changelog
from apps.records.record_view import RecordView
from apps.rules.compiler import check, evaluate
from apps.rules.parser import parse

log = logging.getLogger(__name__)

Position = changelog.Position


@dataclass(eq=False)
class Subscription:
    """One `subscribe` of one connection (created and changed on the event loop)."""

    conn: object
    id: str
    collection_id: str
    record_id: str | None = None
    filter: str | None = None
    #: the filter reaches into other collections: tested by a query per batch
    filter_needs_query: bool = False
    active: bool = True  # false once unsubscribed or closed
    joined: bool = False  # live: the hub sends it events


@dataclass(eq=False)
class Group:
    """The subscriptions of one identity to one collection."""

    actor: object
    subs: list[Subscription] = field(default_factory=list)


@dataclass
class Event:
    """One record's changes within a batch: the action a subscriber sees, and where the
    last of them is in the log."""

    collection_id: str
    record_id: str
    action: str
    position: Position
    delete_seq: int | None = None


def collapse(rows: list[tuple]) -> list[Event]:
    """Change rows (txid, seq, collection, record, op) as one event per record, in the
    order of each record's last change. A record created and deleted within the batch
    was never seen by anyone: no event."""
    events: dict[tuple[str, str], Event] = {}
    for txid, seq, collection_id, record_id, op in rows:
        key = (collection_id, record_id)
        previous = events.pop(key, None)
        if op == Change.DELETE:
            if previous is not None and previous.action == Change.CREATE:
                continue
            event = Event(collection_id, record_id, "delete", (txid, seq), seq)
        else:
            action = Change.CREATE if op == Change.CREATE else Change.UPDATE
            if previous is not None and previous.action == Change.CREATE:
                action = Change.CREATE
            event = Event(collection_id, record_id, action, (txid, seq))
        events[key] = event
    return list(events.values())


def event_frame(sub_id: str, action: str, record: bytes, token: str) -> bytes:
    return b"".join(
        (
            b'{"type":"event","sub":',
            orjson.dumps(sub_id),
            b',"action":"',
            action.encode(),
            b'","record":',
            record,
            b',"token":"',
            token.encode(),
            b'"}',
        )
    )


# --- subscribing -------------------------------------------------------------------------


def prepare_filter(actor, spec: CollectionSpec, text: str) -> bool:
    """Check a subscription filter as the caller's own list filter would be checked
    (only fields they may read); True when testing it needs a query. Raises RuleError."""
    access = Access(actor, spec)
    check(parse(text), RecordResolver(access, client=True))
    return access.used_related


def prepare_events(spec: CollectionSpec) -> None:
    """Build what the collection's events need (its model, the read of its rows) at
    subscribe time, not within the first event's delivery."""
    changelog.rows_plan(spec, cache.model_for(spec), 1)


def _rule_needs_query(spec: CollectionSpec, text: str) -> bool:
    key = (spec.id, spec.stamp, text)
    known = _needs_query.get(key)
    if known is None:
        probe = Access(None, spec)
        check(parse(text), RecordResolver(probe, client=False))
        known = _needs_query[key] = probe.used_related
        if len(_needs_query) > 1000:
            _needs_query.clear()
    return known


_needs_query: dict[tuple, bool] = {}


# --- a batch -----------------------------------------------------------------------------


class _Collection:
    """What one batch needs of one collection: its spec, rows and tombstones."""

    def __init__(self, spec: CollectionSpec, events: list[Event]) -> None:
        self.spec = spec
        self.model = cache.model_for(spec)
        upserts = [e.record_id for e in events if e.action != "delete"]
        self.rows = changelog.load_rows(spec, self.model, upserts)
        self.many_names = [
            f.attname for f in spec.fields if get_type(f.type).is_many(f)
        ]
        self.fields = {f.id: f for f in spec.fields}
        self.tombstones: dict[str, dict] = {}
        self.encoded: dict[tuple, bytes] = {}

    def many(self, record_id: str) -> dict:
        row = self.rows[record_id]
        return {record_id: {name: row[name] for name in self.many_names}}


class _Viewer:
    """One identity's view of one collection within a batch."""

    def __init__(self, group: Group, data: _Collection) -> None:
        self.group, self.data = group, data
        self.access = Access(group.actor, data.spec)
        self.view = RecordView(self.access)
        self.filter_resolver = RecordResolver(self.access, client=True)
        self.rule = data.spec.rules.get("view")
        self._visible: set[str] | None = None
        self._filtered: dict[str, set[str]] = {}

    def visible(self, record_id: str) -> bool:
        if record_id not in self.data.rows:
            return False  # deleted since: its delete follows
        if self.access.privileged or self.rule == "":
            return True
        if self.rule is None:
            return False
        if _rule_needs_query(self.data.spec, self.rule):
            if self._visible is None:
                condition = self.access.rule("view")
                rows = self.data.model.objects.filter(pk__in=list(self.data.rows))
                if condition is not True:
                    rows = rows.filter(condition)
                self._visible = (
                    set(rows.values_list("pk", flat=True)) if condition else set()
                )
            return record_id in self._visible
        return self.access.test(self.rule, self.data.rows[record_id])

    def could_view(self, snapshot: dict) -> bool:
        if self.access.privileged:
            return True
        return self.access.test(self.rule, snapshot)

    def record(self, record_id: str) -> bytes:
        row = dict(self.data.rows[record_id])
        for key in self.view.guards:  # `_r_<field id>`: the field's read rule
            field = self.data.fields[key[3:]]
            row[key] = self.access.field_readable_row(field, row)
        rendered = self.view.render([row], many=self.data.many(record_id))[0]
        key = (record_id, *rendered)  # identities that see the same fields share it
        encoded = self.data.encoded.get(key)
        if encoded is None:
            encoded = self.data.encoded[key] = orjson.dumps(rendered)
        return encoded

    def matches(self, sub: Subscription, record_id: str, row: dict) -> bool:
        if sub.filter is None:
            return True
        if sub.filter_needs_query:
            if record_id not in self.data.rows:
                return True  # a delete: the filter cannot be tested on what is gone
            ids = self._filtered.get(sub.filter)
            if ids is None:
                condition = self.access.filter(sub.filter)
                rows = self.data.model.objects.filter(pk__in=list(self.data.rows))
                if condition is False:
                    ids = set()
                else:
                    if condition is not True:
                        rows = rows.filter(condition)
                    ids = set(rows.values_list("pk", flat=True))
                self._filtered[sub.filter] = ids
            return record_id in ids
        return evaluate(parse(sub.filter), self.filter_resolver, self.access.ctx, row)


def plan(
    rows: list[tuple], groups: dict[str, list[Group]]
) -> list[tuple[Subscription, bytes]]:
    """The frames a batch of change rows sends, in log order: (subscription, frame)."""
    events = [e for e in collapse(rows) if e.collection_id in groups]
    if not events:
        return []
    by_collection: dict[str, list[Event]] = {}
    for event in events:
        by_collection.setdefault(event.collection_id, []).append(event)
    data: dict[str, _Collection] = {}
    for collection_id, collection_events in by_collection.items():
        try:
            spec = get_spec_by_id(collection_id)
        except NotFound:
            continue  # dropped since
        data[collection_id] = _Collection(spec, collection_events)
        deletes = {e.delete_seq: e.record_id for e in collection_events if e.delete_seq}
        if deletes:
            for seq, snapshot in changelog.tombstones(list(deletes)).items():
                data[collection_id].tombstones[deletes[seq]] = changelog.snapshot_row(
                    spec, snapshot
                )
    viewers: dict[tuple[str, int], _Viewer] = {}
    out: list[tuple[Subscription, bytes]] = []
    for event in events:
        collection = data.get(event.collection_id)
        if collection is None:
            continue
        token = changelog.encode_token(event.position)
        for group in groups[event.collection_id]:
            key = (event.collection_id, id(group))
            viewer = viewers.get(key)
            if viewer is None:
                viewer = viewers[key] = _Viewer(group, collection)
            out.extend(_frames(viewer, event, token))
    return out


def _frames(viewer: _Viewer, event: Event, token: str):
    subs = [
        s
        for s in viewer.group.subs
        if s.record_id is None or s.record_id == event.record_id
    ]
    if not subs:
        return
    if event.action == "delete":
        snapshot = viewer.data.tombstones.get(event.record_id)
        if snapshot is None or not viewer.could_view(snapshot):
            return
        record = orjson.dumps({"id": event.record_id})
        row = snapshot
    else:
        if not viewer.visible(event.record_id):
            return
        record = None
        row = viewer.data.rows[event.record_id]
    made: dict[str, bytes] = {}  # subscriptions of one identity often share an id
    for sub in subs:
        try:
            if not viewer.matches(sub, event.record_id, row):
                continue
        except Exception:  # a filter that cannot be tested on this row: not a match
            log.debug("realtime filter failed", exc_info=True)
            continue
        frame = made.get(sub.id)
        if frame is None:
            if record is None:
                record = viewer.record(event.record_id)
            frame = made[sub.id] = event_frame(sub.id, event.action, record, token)
        yield sub, frame
