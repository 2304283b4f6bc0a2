"""Who a message goes to: `to` ({users | topic | devices | filter}) as a query of
active devices of active users. `filter` is an expression over the `users` collection in
the one language of rules and filters, evaluated with full read access (the sender is a
superuser, a `push:send` key or server code)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.accounts.apikeys import KeyPrincipal
from apps.collections.access import Access
from apps.collections.bootstrap import USERS_ID
from apps.collections.dynamic import cache
from apps.collections.services import get_spec_by_id
from apps.core.exceptions import InvalidInput
from apps.push.models import Device
from apps.rules.compiler import RuleError
from apps.rules.parser import RuleSyntaxError

MAX_FILTER = 2000
PUSHER = KeyPrincipal(key_id="", name="push", scopes=frozenset({"records:read"}))


def _users_filter(text: str) -> Q | bool:
    access = Access(PUSHER, get_spec_by_id(USERS_ID))
    try:
        return access.filter(text)
    except (RuleSyntaxError, RuleError) as exc:
        raise InvalidInput(
            f"Invalid filter over users: {exc}",
            code="invalid_filter",
            param="to.filter",
        ) from None


def check_filter(text) -> None:
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_FILTER:
        raise InvalidInput(
            f"to.filter is an expression of at most {MAX_FILTER} characters.",
            param="to.filter",
        )
    _users_filter(text)


def devices(to: dict) -> QuerySet:
    """The active devices of active users that `to` names."""
    found = Device.objects.filter(active=True, user__is_active=True)
    ((kind, target),) = to.items()
    if kind == "users":
        return found.filter(user_id__in=target)
    if kind == "devices":
        return found.filter(id__in=target)
    if kind == "topic":
        return found.filter(topics__topic=target)
    condition = _users_filter(target)
    if condition is False:
        return found.none()
    model = cache.model_for(get_spec_by_id(USERS_ID))
    users = (
        model.objects.all() if condition is True else model.objects.filter(condition)
    )
    return found.filter(user_id__in=users.values("pk"))
