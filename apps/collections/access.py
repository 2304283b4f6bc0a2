"""Who may do what to records. Until rules are enforced, superusers and scoped keys only."""

from __future__ import annotations

from apps.accounts.permissions import has_scope
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import Forbidden, Unauthenticated

READ_ACTIONS = frozenset({"list", "view"})


def check_action(actor, spec: CollectionSpec, action: str) -> None:
    """Raise 401/403 unless `actor` may perform `action` on records of `spec`."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    scope = "records:read" if action in READ_ACTIONS else "records:write"
    if has_scope(actor, scope):
        return
    raise Forbidden(f"You may not {action} records of {spec.name!r}.", code="forbidden")
