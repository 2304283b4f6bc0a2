"""The audit log (docs/audit.md): administrative changes, written by the service that
makes them in its own transaction (a change that rolls back leaves no entry, a committed
one always has one), readable at GET /api/v1/audit, pruned after
BAAS_AUDIT_RETENTION_DAYS.

Other features call `record(...)`; actions are stable dotted names (`collection.update`,
`apikey.revoke`, `webhook.create`, ...). Entries never hold a secret: snapshots are made
by the callers without them, and values under secret-looking keys are redacted here too.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.paging import format_time
from apps.hooks.models import AuditEntry

#: keys whose values are never stored, at any depth of a snapshot
SECRET_KEYS = frozenset(
    {
        "password",
        "password_hash",
        "key_hash",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "session_token",
        "plaintext",
    }
)
REDACTED = "[redacted]"
PRUNE_BATCH = 5000
MAX_ADDRESS = 45


@dataclass(frozen=True)
class Target:
    """What an entry is about: `Target("collection", spec.id, spec.name)`."""

    kind: str
    id: str = ""
    name: str = ""


@dataclass(frozen=True)
class Actor:
    kind: str  # "user", "apikey" or "system"
    id: str = ""
    label: str = ""


def actor_of(actor) -> Actor:
    """A request's user or key principal as the log names it: a user by id and email,
    an API key by id and name; no actor (command line, tasks) or an internal service
    principal (a key principal without a key) is "system"."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Actor("system")
    key_id = getattr(actor, "key_id", None)
    if key_id is not None:
        name = str(getattr(actor, "name", "") or "")
        return (
            Actor("apikey", str(key_id), name) if key_id else Actor("system", "", name)
        )
    pk = getattr(actor, "pk", None)
    if pk is None:
        return Actor("system")
    return Actor("user", str(pk), str(getattr(actor, "email", "") or ""))


# --- who acts where the actor is not at hand ----------------------------------------------

_acting: contextvars.ContextVar[tuple | None] = contextvars.ContextVar(
    "baas_audit_acting", default=None
)


@contextlib.contextmanager
def acting(actor, request=None) -> Iterator[None]:
    """Name who is behind the changes made inside the block, for entries written where
    the actor is not passed along (the account deletion signal). The outermost block
    wins: it knows who asked (a user deleting their own account through a service
    principal is still that user)."""
    if _acting.get() is not None:
        yield
        return
    token = _acting.set((actor, request))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> tuple:
    """(actor, request) of the enclosing `acting` block, else (None, None)."""
    return _acting.get() or (None, None)


# --- writing ------------------------------------------------------------------------------


def record(
    *, actor, action: str, target: Target, before=None, after=None, request=None
) -> AuditEntry:
    """Write one entry in the caller's transaction. `before`/`after` are JSON-able
    snapshots (None for a create or a delete); `diff` is computed from them; `request`
    gives the client address when there is one."""
    before, after = _clean(before), _clean(after)
    who = actor_of(actor)
    return AuditEntry.objects.create(
        at=_now_ms(),
        actor_kind=who.kind,
        actor_id=who.id[:64],
        actor_label=who.label[:254],
        action=action,
        target_kind=target.kind,
        target_id=str(target.id or "")[:64],
        target_name=str(target.name or "")[:254],
        before=before,
        after=after,
        diff=diff(before, after),
        client_address=client_address(request),
    )


def _now_ms() -> datetime:
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _clean(value):
    """Plain JSON (dates as RFC 3339 text, tuples as lists), secrets redacted."""
    if value is None:
        return None
    return _redact(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _redact(value):
    if isinstance(value, dict):
        return {
            k: (REDACTED if k in SECRET_KEYS and v is not None else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def client_address(request) -> str | None:
    """The client's IP address as the rate limits see it (BAAS_TRUSTED_PROXY_COUNT)."""
    if request is None:
        return None
    from allauth.account.adapter import get_adapter

    try:
        address = get_adapter().get_client_ip(request)
        parsed = str(ipaddress.ip_address(address))
    except (PermissionDenied, ImproperlyConfigured, ValueError, TypeError):
        return None
    return parsed if len(parsed) <= MAX_ADDRESS else None


# --- diff -----------------------------------------------------------------------------------

_MISSING = object()


def diff(before, after) -> dict:
    """Every value that differs, by dotted path: `{"rules.list": {"before": None,
    "after": ""}}`. Lists of objects with ids (fields) are compared item by item, keyed
    by id (`fields.<id>.name`); a missing value is null. A create lists every top-level
    key of `after`, a delete every one of `before`."""
    changes: dict = {}
    _compare(
        {} if before is None else before, {} if after is None else after, "", changes
    )
    return changes


def _keyed(value) -> dict | None:
    if not isinstance(value, list):
        return None
    ids = [v.get("id") if isinstance(v, dict) else None for v in value]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        return None
    return dict(zip(ids, value, strict=True))


def _compare(old, new, path: str, out: dict) -> None:
    if old is not _MISSING and new is not _MISSING and old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _compare(
                old.get(key, _MISSING), new.get(key, _MISSING), _join(path, key), out
            )
        return
    old_items, new_items = _keyed(old), _keyed(new)
    if old_items is not None and new_items is not None:
        found = len(out)
        _compare(old_items, new_items, path, out)
        if len(out) == found:  # the same items in another order
            out[path] = {"before": list(old_items), "after": list(new_items)}
        return
    out[path] = {
        "before": None if old is _MISSING else old,
        "after": None if new is _MISSING else new,
    }


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# --- reading --------------------------------------------------------------------------------


def entries(
    *,
    actions: tuple[str, str] | None = None,
    actor: tuple[str | None, str | None] | None = None,
    target: tuple[str | None, str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The entries that match, unordered (apps.core.paging pages them newest first).
    `actions`: ("exact" | "prefix", text); `actor`: (kind or None, id or None);
    `target`: (kind or None, id or name); `since` inclusive, `until` exclusive."""
    query = AuditEntry.objects.all()
    if actions is not None:
        how, text = actions
        if how == "prefix":
            query = query.filter(action__startswith=text)
        else:
            query = query.filter(action=text)
    if actor is not None:
        kind, actor_id = actor
        if kind is not None:
            query = query.filter(actor_kind=kind)
        if actor_id is not None:
            query = query.filter(actor_id=actor_id)
    if target is not None:
        kind, value = target
        if kind is not None:
            query = query.filter(target_kind=kind)
        query = query.filter(Q(target_id=value) | Q(target_name=value))
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    return query


def entry_to_json(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "at": format_time(entry.at),
        "action": entry.action,
        "actor": {
            "kind": entry.actor_kind,
            "id": entry.actor_id or None,
            "label": entry.actor_label or None,
        },
        "target": {
            "kind": entry.target_kind,
            "id": entry.target_id or None,
            "name": entry.target_name or None,
        },
        "before": entry.before,
        "after": entry.after,
        "diff": entry.diff,
        "client_address": entry.client_address,
    }


# --- retention ------------------------------------------------------------------------------


def prune(now: datetime | None = None) -> int:
    """Delete entries older than BAAS_AUDIT_RETENTION_DAYS, in batches (no long lock)."""
    now = timezone.now() if now is None else now
    cutoff = now - timedelta(days=settings.BAAS_AUDIT_RETENTION_DAYS)
    old = AuditEntry.objects.filter(at__lt=cutoff)
    total = 0
    while True:
        batch = list(old.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not batch:
            return total
        total += AuditEntry.objects.filter(pk__in=batch).delete()[0]


@shared_task(name="baas.hooks.prune_audit")
def prune_audit() -> int:
    """Beat's daily pruning of the audit log (baas/celery.py); idempotent."""
    return prune()
