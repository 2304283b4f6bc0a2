"""Console page: webhooks (list, create with the secret shown once, edit, delete) and
each webhook's delivery log (a delivery's detail, redelivery).

Everything goes through apps.hooks.webhook_service, as /api/v1/webhooks does: the same
validation (SSRF refusals included), audit entries and subscriptions.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from admin_ui.access import console_page
from admin_ui.views.forms import form_errors, general_errors, pretty, when
from apps.core.exceptions import ApiError
from apps.hooks import webhook_service as service

FORM_FIELDS = ("url", "events", "filter", "active")
DELIVERY_BADGES = {
    "succeeded": "ok",
    "failed": "danger",
    "pending": "warn",
    "delivering": "",
}
PAGE_SIZE = 25
SPLIT = re.compile(r"[\s,]+")


def _status(item: dict) -> tuple[str, str]:
    """(label, badge class) of a webhook: disabled by the server stands out."""
    if item["disabled_at"]:
        return "Disabled after failures", "danger"
    if not item["active"]:
        return "Paused", "warn"
    if item["failing_since"]:
        return "Failing", "warn"
    return "Active", "ok"


def _view(item: dict) -> dict:
    label, badge = _status(item)
    return {
        **item,
        "status_label": label,
        "status_badge": badge,
        "created_at": when(item["created"]),
        "failing_at": when(item["failing_since"]),
        "disabled_when": when(item["disabled_at"]),
    }


def _form_data(post) -> dict:
    """The form as the API's JSON body: events one per line or comma-separated."""
    events = [e for e in SPLIT.split(post.get("events", "")) if e]
    return {
        "url": post.get("url", "").strip(),
        "events": events,
        "filter": post.get("filter", "").strip() or None,
        "active": post.get("active") == "on",
    }


def _form_values(item: dict | None, post=None) -> dict:
    if post is not None:
        return {
            "url": post.get("url", ""),
            "events": post.get("events", ""),
            "filter": post.get("filter", ""),
            "active": post.get("active") == "on",
        }
    if item is None:
        return {"url": "", "events": "", "filter": "", "active": True}
    return {
        "url": item["url"],
        "events": "\n".join(item["events"]),
        "filter": item["filter"] or "",
        "active": item["active"],
    }


def _collections() -> list[str]:
    from apps.collections.services import list_specs

    return sorted(spec.name for spec in list_specs())


def _missing(request, exc: ApiError):
    return render(
        request,
        "admin_ui/webhooks/missing.html",
        {"message": str(exc)},
        status=exc.status,
    )


@console_page
def webhook_list(request):
    items = [_view(w) for w in service.webhook_list(actor=request.user)]
    return render(request, "admin_ui/webhooks/list.html", {"items": items})


def _form(request, *, item, values, errors, status=200):
    context = {
        "item": item,
        "values": values,
        "errors": errors,
        "general": general_errors(errors, FORM_FIELDS),
        "collections": _collections(),
    }
    return render(request, "admin_ui/webhooks/form.html", context, status=status)


@console_page
def webhook_create(request):
    if request.method != "POST":
        return _form(request, item=None, values=_form_values(None), errors={})
    try:
        created = service.webhook_create(
            actor=request.user, data=_form_data(request.POST), request=request
        )
    except ApiError as exc:
        return _form(
            request,
            item=None,
            values=_form_values(None, request.POST),
            errors=form_errors(exc),
            status=exc.status,
        )
    # The secret exists in this response only: no redirect, nothing kept in the session.
    return render(
        request,
        "admin_ui/webhooks/created.html",
        {"item": _view(created), "secret": created["secret"]},
        status=201,
    )


@console_page
def webhook_detail(request, webhook_id: str):
    try:
        item = _view(service.webhook_get(actor=request.user, webhook_id=webhook_id))
    except ApiError as exc:
        return _missing(request, exc)
    state = request.GET.get("state") or ""
    params = {"limit": str(PAGE_SIZE), "cursor": request.GET.get("cursor") or ""}
    if state:
        params["state"] = state
    errors: dict[str, list[str]] = {}
    status = 200
    try:
        page = service.delivery_list(
            actor=request.user, webhook_id=webhook_id, params=params
        )
    except ApiError as exc:
        page, errors, status = (
            {"items": [], "next_cursor": None},
            form_errors(exc),
            exc.status,
        )
    deliveries = [
        {
            **d,
            "badge": DELIVERY_BADGES.get(d["state"], ""),
            "created_at": when(d["created"]),
            "next_at": when(d["next_attempt_at"]),
        }
        for d in page["items"]
    ]
    query = {"state": state} if state else {}
    context = {
        "item": item,
        "deliveries": deliveries,
        "states": service.STATES,
        "state": state,
        "errors": errors,
        "general": general_errors(errors, {"state"}),
        "next_query": {**query, "cursor": page["next_cursor"]}
        if page["next_cursor"]
        else None,
        "first_query": query if request.GET.get("cursor") else None,
    }
    return render(request, "admin_ui/webhooks/detail.html", context, status=status)


@console_page
def webhook_edit(request, webhook_id: str):
    try:
        item = service.webhook_get(actor=request.user, webhook_id=webhook_id)
    except ApiError as exc:
        return _missing(request, exc)
    if request.method != "POST":
        return _form(request, item=item, values=_form_values(item), errors={})
    try:
        service.webhook_update(
            actor=request.user,
            webhook_id=webhook_id,
            data=_form_data(request.POST),
            request=request,
        )
    except ApiError as exc:
        return _form(
            request,
            item=item,
            values=_form_values(item, request.POST),
            errors=form_errors(exc),
            status=exc.status,
        )
    messages.success(request, "Webhook saved.")
    return redirect(reverse("console:webhook", args=[webhook_id]))


@console_page
@require_POST
def webhook_enable(request, webhook_id: str):
    """Resume a paused webhook, or enable one the server disabled after failures."""
    active = request.POST.get("active") != "off"
    try:
        service.webhook_update(
            actor=request.user,
            webhook_id=webhook_id,
            data={"active": active},
            request=request,
        )
    except ApiError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Webhook enabled." if active else "Webhook paused.")
    return redirect(reverse("console:webhook", args=[webhook_id]))


@console_page
@require_POST
def webhook_delete(request, webhook_id: str):
    try:
        service.webhook_delete(
            actor=request.user, webhook_id=webhook_id, request=request
        )
    except ApiError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:webhooks"))
    messages.success(request, "Webhook deleted, with its delivery log.")
    return redirect(reverse("console:webhooks"))


@console_page
def delivery_detail(request, webhook_id: str, delivery_id: str):
    try:
        item = _view(service.webhook_get(actor=request.user, webhook_id=webhook_id))
        delivery = service.delivery_get(
            actor=request.user, webhook_id=webhook_id, delivery_id=delivery_id
        )
    except ApiError as exc:
        return _missing(request, exc)
    context = {
        "item": item,
        "d": delivery,
        "badge": DELIVERY_BADGES.get(delivery["state"], ""),
        "payload": pretty(delivery["payload"], sort=False),  # as sent
        "times": [
            ("Created", when(delivery["created"])),
            ("Last attempt", when(delivery["last_attempt_at"])),
            ("Delivered", when(delivery["delivered_at"])),
            ("Next retry", when(delivery["next_attempt_at"])),
        ],
    }
    return render(request, "admin_ui/webhooks/delivery.html", context)


@console_page
@require_POST
def delivery_retry(request, webhook_id: str, delivery_id: str):
    try:
        service.delivery_retry(
            actor=request.user, webhook_id=webhook_id, delivery_id=delivery_id
        )
    except ApiError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Redelivery queued.")
    return redirect(reverse("console:webhook-delivery", args=[webhook_id, delivery_id]))


urlpatterns = [
    path("webhooks/", webhook_list, name="webhooks"),
    path("webhooks/new/", webhook_create, name="webhook-new"),
    path("webhooks/<str:webhook_id>/", webhook_detail, name="webhook"),
    path("webhooks/<str:webhook_id>/edit/", webhook_edit, name="webhook-edit"),
    path("webhooks/<str:webhook_id>/enable/", webhook_enable, name="webhook-enable"),
    path("webhooks/<str:webhook_id>/delete/", webhook_delete, name="webhook-delete"),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/",
        delivery_detail,
        name="webhook-delivery",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/retry/",
        delivery_retry,
        name="webhook-delivery-retry",
    ),
]
