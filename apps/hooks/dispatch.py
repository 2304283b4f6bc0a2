"""Running `before` hooks inside record writes and queueing `after` hooks for a worker.

The record services call in here only when a hook is registered for the collection and
action (`wanted`), so a write to a collection without hooks pays one dict lookup.

`after` hooks are queued through the outbox (apps.core.outbox) in the write's own
transaction: one row per hook and change, published to Celery once the write commits. A
write that rolls back queues nothing; a broker that is down at commit time delays the hook,
it does not lose it.
"""

from __future__ import annotations

import copy

from celery import shared_task
from django.db import connection

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.permissions import is_superuser
from apps.collections.access import Access
from apps.collections.spec import CollectionSpec
from apps.core import outbox
from apps.hooks import webhooks
from apps.hooks.registry import registry
from apps.records.record_view import RecordView
from baas.hooks import Auth, Event

AFTER_TASK = "baas.hooks.after"
#: server code acting with every right over records (the `baas.records` facade's default)
SYSTEM = KeyPrincipal(
    key_id="", name="server code", scopes=frozenset({"records:read", "records:write"})
)
# Seconds between attempts at most: below the broker's visibility timeout (3600 by
# default), or a retry waiting for its countdown would be handed to a second worker.
RETRY_BACKOFF_MAX = 1800
MAX_RETRIES = 13  # up to 1 s, 2 s, 4 s ... 1024 s, 30 min, 30 min (jittered): ~1.5 h


def wanted(kind: str, action: str, spec: CollectionSpec) -> bool:
    """Whether a write must call run_before ("before") or queue_after ("after"): hooks
    registered for it, or (after) webhooks subscribed to it."""
    if registry.hooks and registry.hooks_for(kind, action, spec.name):
        return True
    return kind == "after" and webhooks.subscribed(action, spec)


def auth_of(actor) -> Auth | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    if isinstance(actor, KeyPrincipal):
        if actor is SYSTEM:
            return Auth(kind="system")
        return Auth(
            kind="key",
            id=actor.key_id,
            key_name=actor.name,
            scopes=tuple(sorted(actor.scopes)),
        )
    kind = "superuser" if is_superuser(actor) else "user"
    return Auth(kind=kind, id=str(actor.pk), email=getattr(actor, "email", None))


def actor_for(who):
    """The actor a `baas.records` call runs as: an Auth, a user object (request.user,
    even anonymous) or a user id."""
    from apps.accounts.models import User

    if isinstance(who, Auth):
        if who.kind == "system":
            return SYSTEM
        if who.kind == "key":
            return KeyPrincipal(
                key_id=who.id or "",
                name=who.key_name or "",
                scopes=frozenset(who.scopes),
            )
        who = who.id
    if isinstance(who, str):
        user = User.objects.filter(pk=who, is_active=True).first()
        if user is None:
            raise ValueError(f"no active user with id {who!r}")
        return user
    if hasattr(who, "is_authenticated"):
        return who
    raise TypeError(f"as_user cannot be a {type(who).__name__}")


def records_as_system(spec: CollectionSpec, pks: list[str]) -> dict[str, dict]:
    """Records by id, every field shown (as server code sees them)."""
    if not pks:
        return {}
    view = RecordView(Access(SYSTEM, spec))
    rows = list(view.values(view.access.model().objects.filter(pk__in=pks)))
    return {record["id"]: record for record in view.render(rows)}


def run_before(
    action: str,
    spec: CollectionSpec,
    actor,
    data,
    *,
    record_id: str | None = None,
    old: dict | None = None,
) -> dict:
    """Run the `before` hooks (in the caller's transaction); the data to write."""
    if old is None and record_id is not None:
        old = records_as_system(spec, [record_id]).get(record_id)
    event = Event(
        collection=spec.name,
        action=action,
        data=dict(data) if data is not None else None,
        old=copy.deepcopy(old),
        auth=auth_of(actor),
        record_id=record_id,
    )
    for hook in registry.hooks_for("before", action, spec.name):
        hook.func(event)
        if action != "delete" and not isinstance(event.data, dict):
            raise TypeError(f"{hook.name} left event.data as a {type(event.data)}")
    return event.data


def _txid() -> int:
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        return cursor.fetchone()[0]


def _last_change_seq(spec: CollectionSpec, record_id: str) -> int:
    """The seq of this transaction's latest change to the record (the service just
    logged it)."""
    from apps.collections.models import Change

    return (
        Change.objects.filter(collection_id=spec.id, record_id=record_id)
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )


def queue_after(
    action: str,
    spec: CollectionSpec,
    actor,
    *,
    record_id: str,
    data: dict | None,
    old: dict | None,
) -> None:
    """Queue each `after` hook for this change, in the write's transaction."""
    from apps.records.changelog import encode_token

    hooks = registry.hooks_for("after", action, spec.name)
    token = encode_token((_txid(), _last_change_seq(spec, record_id)))
    auth = auth_of(actor)
    webhooks.queue(
        action, spec, record_id=record_id, data=data, old=old, token=token, auth=auth
    )
    if not hooks:
        return
    event = {
        "collection": spec.name,
        "action": action,
        "record_id": record_id,
        "data": data,
        "old": old,
        "auth": auth.as_dict() if auth else None,
        "token": token,
    }
    for hook in hooks:
        outbox.enqueue(AFTER_TASK, hook.name, event, _after_commit=True)


@shared_task(
    name=AFTER_TASK,
    bind=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    max_retries=MAX_RETRIES,
)
def run_after(self, hook_name: str, event: dict) -> None:
    """One `after` hook for one change (at least once: retried when it raises)."""
    hook = registry.after_hook(hook_name)
    if hook is None:  # a worker on other code (a deploy in progress): retried later
        raise LookupError(f"after hook {hook_name} is not registered in this worker")
    hook.func(
        Event(
            collection=event["collection"],
            action=event["action"],
            data=event["data"],
            old=event["old"],
            auth=Auth.from_dict(event["auth"]),
            token=event["token"],
            record_id=event["record_id"],
        )
    )
