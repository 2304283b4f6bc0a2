"""Who a realtime connection is: an access token or API key from an `auth` frame (or the
SSE request's Authorization header), checked as the REST API checks it."""

from __future__ import annotations

from dataclasses import dataclass

from apps.accounts.apikeys import KEY_PREFIX, KeyPrincipal, apikey_authenticate
from apps.accounts.authentication import _verified_payload, active_user


@dataclass(frozen=True)
class Identity:
    actor: object  # a User, a KeyPrincipal, or None (anonymous)
    key: str  # what subscribers are grouped by: one per user, key, or "anonymous"
    user_id: str | None = None
    session_key: str | None = None
    expires_at: float | None = None  # epoch seconds


ANONYMOUS = Identity(actor=None, key="anonymous")


def authenticate(token: str) -> Identity | None:
    """The identity a token stands for now; None for an invalid, expired or revoked one.
    Runs in the hub's database thread."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    if token.startswith(KEY_PREFIX):
        principal = apikey_authenticate(token)
        if principal is None:
            return None
        return Identity(actor=principal, key=f"key:{_key_id(principal)}")
    payload = _verified_payload(token)
    if payload is None:
        return None
    user = active_user(payload["sub"], payload["_session"])
    if user is None:
        return None
    return Identity(
        actor=user,
        key=f"user:{user.pk}",
        user_id=str(user.pk),
        session_key=payload["_session"],
        expires_at=float(payload["exp"]),
    )


def _key_id(principal: KeyPrincipal) -> str:
    return str(principal.key_id)
