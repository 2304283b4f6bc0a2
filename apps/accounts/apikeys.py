"""API key services: create (shown once), verify, revoke."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.core.exceptions import InvalidInput

KEY_PREFIX = "bk_"
SCOPES = frozenset(
    {"records:read", "records:write", "schema", "push:send", "jobs", "webhooks"}
)
LAST_USED_RESOLUTION = timedelta(minutes=1)
PREFIX_LENGTH = 12
HEX_DIGITS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class KeyPrincipal:
    """The identity of a request authenticated by an API key."""

    key_id: str
    name: str
    scopes: frozenset[str]
    is_authenticated: bool = True
    is_superuser: bool = False
    is_active: bool = True
    pk: None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _audited(key: ApiKey) -> dict:
    """A key as the audit log keeps it: never its secret or hash."""
    return {
        "id": key.pk,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


def _audit(actor, request, action: str, key: ApiKey, before, after) -> None:
    from apps.hooks import audit

    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("apikey", key.pk, key.name),
        before=before,
        after=after,
        request=request,
    )


def apikey_create(
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None = None,
    actor=None,
    request=None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored.
    `actor` (None: the command line) and `request` are for the audit log."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("A key needs a name of 1 to 100 characters.", param="name")
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(
            f"Unknown or missing scopes {unknown}; choose from {sorted(SCOPES)}.",
            param="scopes",
        )
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name,
            prefix=prefix,
            key_hash=_hash(plaintext),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
        _audit(actor, request, "apikey.create", key, None, _audited(key))
    return key, plaintext


def apikey_revoke(*, key_id: str, actor=None, request=None) -> None:
    """Revoke a key at once; revoking a revoked key changes (and records) nothing."""
    with transaction.atomic():
        key = (
            ApiKey.objects.select_for_update()
            .filter(pk=key_id, revoked_at__isnull=True)
            .first()
        )
        if key is None:
            return
        before = _audited(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _audit(actor, request, "apikey.revoke", key, before, _audited(key))


def apikey_authenticate(plaintext: str) -> KeyPrincipal | None:
    """Return the key's principal if the key is valid, unexpired and not revoked."""
    if not plaintext.startswith(KEY_PREFIX):
        return None
    prefix = plaintext[len(KEY_PREFIX) :].split("_", 1)[0]
    # Only a prefix apikey_create can make reaches the database (PostgreSQL: no NUL).
    if len(prefix) != PREFIX_LENGTH or not set(prefix) <= HEX_DIGITS:
        return None
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(plaintext)):
        return None
    now = timezone.now()
    if key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return KeyPrincipal(key_id=key.pk, name=key.name, scopes=frozenset(key.scopes))
