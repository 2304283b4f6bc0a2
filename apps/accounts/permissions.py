"""Who may use the operator-level endpoints: superusers and correctly scoped API keys."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.mfa import (
    MFA_REQUIRED_MESSAGE,
    lacks_required_mfa,
    superuser_privileged,
)
from apps.core.exceptions import Forbidden


def is_superuser(user) -> bool:
    """A superuser whose privileges count: active and, when BAAS_REQUIRE_SUPERUSER_MFA
    is on, with a second factor set up (apps.accounts.mfa); else treated as a user."""
    return user is not None and superuser_privileged(user)


def has_scope(user, scope: str) -> bool:
    """True for an active superuser, or an API key holding `scope`."""
    if isinstance(user, KeyPrincipal):
        return user.has_scope(scope)
    return is_superuser(user) and getattr(user, "is_active", False)


class IsSuperuserOrKey(BasePermission):
    """Default: superusers, or keys with the view's `required_scope`."""

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "required_scope", None)
        user = request.user
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if isinstance(user, KeyPrincipal):
            return scope is not None and user.has_scope(scope)
        if is_superuser(user):
            return True
        if lacks_required_mfa(user):
            raise Forbidden(MFA_REQUIRED_MESSAGE, code="mfa_required")
        return False
