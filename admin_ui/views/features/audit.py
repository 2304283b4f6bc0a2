"""Console page: the audit log (apps.hooks.audit), newest first, filtered by actor,
action, target and time, and one entry with its diff laid out path by path.

The filters are parsed by the same functions as GET /api/v1/audit
(apps/hooks/api/audit_views.py), so both accept and refuse the same values.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.urls import path

from admin_ui.access import console_page
from admin_ui.views.forms import form_errors, general_errors, pretty, when
from apps.core.exceptions import ApiError, InvalidInput, NotFound
from apps.core.paging import newest_first
from apps.hooks import audit
from apps.hooks.api import audit_views
from apps.hooks.models import AuditEntry

FILTERS = ("action", "actor", "target", "since", "until")
PAGE_SIZE = 30
SUMMARY_PATHS = 3


def _long(value) -> str:
    if isinstance(value, str):
        return value
    return pretty(value)


def _actor_filter(text: str | None):
    """An email finds its user; otherwise the API's syntax (`user:<id>`, `system`)."""
    if text and "@" in text:
        user = get_user_model().objects.filter(email__iexact=text).first()
        if user is None:
            raise InvalidInput("No user has this email.", param="actor")
        return "user", str(user.pk)
    return audit_views._actor(text)


def _time(params, name: str):
    """RFC 3339, or a browser's datetime-local value taken as UTC."""
    text = audit_views._value(params, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    except ValueError:
        return audit_views._time(params, name)  # raises the API's message
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _query(params):
    return audit.entries(
        actions=audit_views._actions(audit_views._value(params, "action")),
        actor=_actor_filter(audit_views._value(params, "actor")),
        target=audit_views._target(audit_views._value(params, "target")),
        since=_time(params, "since"),
        until=_time(params, "until"),
    )


def _row(entry: AuditEntry) -> dict:
    item = audit.entry_to_json(entry)
    paths = list(item["diff"])
    return {
        **item,
        "when": when(entry.at),
        "paths": paths[:SUMMARY_PATHS],
        "more_paths": max(0, len(paths) - SUMMARY_PATHS),
    }


def _collect_errors(params) -> dict[str, list[str]]:
    """Every filter's error at once (the query stops at the first)."""
    errors: dict[str, list[str]] = {}
    checks = {
        "action": lambda: audit_views._actions(audit_views._value(params, "action")),
        "actor": lambda: _actor_filter(audit_views._value(params, "actor")),
        "target": lambda: audit_views._target(audit_views._value(params, "target")),
        "since": lambda: _time(params, "since"),
        "until": lambda: _time(params, "until"),
    }
    for name, check in checks.items():
        try:
            check()
        except ApiError as exc:
            for field, items in form_errors(exc).items():
                errors.setdefault(field or name, []).extend(items)
    return errors


@console_page
def audit_list(request):
    params = request.GET
    values = {name: params.get(name, "") for name in FILTERS}
    errors = _collect_errors(params)
    rows, next_cursor, status = [], None, 200
    if errors:
        status = 400
    else:
        try:
            found, next_cursor = newest_first(
                _query(params),
                "at",
                {"limit": str(PAGE_SIZE), "cursor": params.get("cursor") or ""},
            )
            rows = [_row(e) for e in found]
        except ApiError as exc:
            errors, status = form_errors(exc), exc.status
    query = {k: v for k, v in values.items() if v}
    actions = sorted(
        AuditEntry.objects.values_list("action", flat=True).distinct()[:200]
    )
    context = {
        "rows": rows,
        "values": values,
        "errors": errors,
        "general": general_errors(errors, FILTERS),
        "actions": actions,
        "filtered": bool(query),
        "next_query": {**query, "cursor": next_cursor} if next_cursor else None,
        "first_query": query if params.get("cursor") else None,
    }
    return render(request, "admin_ui/audit/list.html", context, status=status)


@console_page
def audit_entry(request, entry_id: str):
    entry = (
        AuditEntry.objects.filter(pk=entry_id).first()
        if audit_views.ID.fullmatch(entry_id)
        else None
    )
    if entry is None:
        exc = NotFound("No such audit entry.")
        return render(
            request,
            "admin_ui/audit/missing.html",
            {"message": str(exc)},
            status=exc.status,
        )
    item = audit.entry_to_json(entry)
    changes = [
        {
            "path": key,
            "before": _long(change.get("before")),
            "after": _long(change.get("after")),
            "added": change.get("before") is None,
            "removed": change.get("after") is None,
        }
        for key, change in item["diff"].items()
    ]
    context = {
        "item": item,
        "when": when(entry.at),
        "changes": changes,
        "before": None if item["before"] is None else pretty(item["before"]),
        "after": None if item["after"] is None else pretty(item["after"]),
    }
    return render(request, "admin_ui/audit/entry.html", context)


urlpatterns = [
    path("audit/", audit_list, name="audit"),
    path("audit/<str:entry_id>/", audit_entry, name="audit-entry"),
]
