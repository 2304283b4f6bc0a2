"""Console page: push notifications. Messages (list, send, detail, cancel), devices,
topic rules and the providers' state; every change goes through apps.push's services
(messages.message_send / message_cancel, topics.topic_*), as the API's views do."""

from __future__ import annotations

import datetime as dt

import orjson
from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from admin_ui.access import console_page
from apps.core.exceptions import ApiError
from apps.core.paging import newest_first
from apps.push import messages, providers, topics, vapid
from apps.push.models import Device, Message
from apps.push.providers.base import ProviderNotConfigured

STATES = [state for state, _ in Message.STATES]
PLATFORMS = [("fcm", "FCM"), ("apns", "APNs"), ("webpush", "Web Push")]
TARGETS = [
    ("users", "Users", "User ids, separated by commas or spaces"),
    ("topic", "Topic", "One topic name"),
    ("devices", "Devices", "Device ids, separated by commas or spaces"),
    ("filter", "Filter", "An expression over the users collection"),
]
#: where an error's `param` is shown in the send form
SEND_PARAMS = {
    "to": "target",
    "notification.title": "title",
    "notification.body": "body",
    "notification": "title",
    "data": "data",
    "send_at": "send_at",
    "send_at.local": "send_at",
}


def provider_state() -> list[dict]:
    """Whether each provider can be built from the settings, and why not."""
    found = []
    for platform, label in PLATFORMS:
        try:
            providers.get(platform)
        except ProviderNotConfigured as exc:
            found.append(
                {"platform": platform, "label": label, "ok": False, "why": str(exc)}
            )
        else:
            found.append({"platform": platform, "label": label, "ok": True, "why": ""})
    return found


def _vapid_key() -> tuple[str, str]:
    try:
        return vapid.keys().public_key, ""
    except ProviderNotConfigured as exc:
        return "", str(exc)


def when(text: str | None) -> dt.datetime | None:
    """A time from the services' JSON (RFC 3339) for the `date` filter."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _tabs(current: str) -> list[dict]:
    return [
        {
            "label": "Messages",
            "url": reverse("console:push"),
            "current": current == "messages",
        },
        {
            "label": "Devices",
            "url": reverse("console:push-devices"),
            "current": current == "devices",
        },
        {
            "label": "Topics",
            "url": reverse("console:push-topics"),
            "current": current == "topics",
        },
    ]


# --- messages ----------------------------------------------------------------------


def _messages_context(request, form=None, form_errors=None) -> dict:
    state = request.GET.get("state", "")
    params = {"limit": "25"}
    if state in STATES:
        params["state"] = state
    else:
        state = ""
    if request.GET.get("cursor"):
        params["cursor"] = request.GET["cursor"]
    error = None
    try:
        listed = messages.message_list(actor=request.user, params=params)
    except ApiError as exc:
        listed = {"items": [], "next_cursor": None}
        error = exc.errors[0].message
    key, key_error = _vapid_key()
    return {
        "tabs": _tabs("messages"),
        "items": [dict(m, created_at=when(m["created"])) for m in listed["items"]],
        "next_cursor": listed["next_cursor"],
        "paged": bool(request.GET.get("cursor")),
        "state": state,
        "states": STATES,
        "list_error": error,
        "providers": provider_state(),
        "vapid_key": key,
        "vapid_error": key_error,
        "targets": TARGETS,
        "form": form or {"kind": "users"},
        "form_errors": form_errors or {},
    }


@console_page
def push_page(request):
    return render(request, "admin_ui/push/index.html", _messages_context(request))


def _ids(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


def message_from_form(form: dict) -> dict:
    """The API's message body from the send form (its JSON `data` parsed here:
    everything else is judged by messages.clean_message)."""
    kind = form.get("kind", "")
    target = form.get("target", "").strip()
    to: dict = {kind: _ids(target) if kind in ("users", "devices") else target}
    body: dict = {"to": to}
    notification = {
        key: form[key] for key in ("title", "body") if form.get(key, "").strip()
    }
    if notification:
        body["notification"] = notification
    data_text = form.get("data", "").strip()
    if data_text:
        try:
            body["data"] = orjson.loads(data_text)
        except orjson.JSONDecodeError as exc:
            raise FormError("data", f"data is not valid JSON: {exc}") from None
    send_at = form.get("send_at", "").strip()
    if send_at:
        try:
            moment = dt.datetime.fromisoformat(send_at)
        except ValueError:
            raise FormError("send_at", "send_at is a date and time.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        body["send_at"] = moment.isoformat()
    return body


class FormError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@console_page
@require_POST
def push_send(request):
    form = {
        key: request.POST.get(key, "")
        for key in ("kind", "target", "title", "body", "data", "send_at")
    }
    try:
        sent = messages.message_send(actor=request.user, data=message_from_form(form))
    except FormError as exc:
        errors, status = {exc.field: exc.message}, 400
    except ApiError as exc:
        param, text = exc.errors[0].param, exc.errors[0].message
        field = SEND_PARAMS.get(param or "")
        if field is None and (param or "").startswith("to"):
            field = "target"
        errors, status = {field or "form": text}, exc.status
    else:
        flash.success(
            request,
            "Message queued."
            if sent["state"] != "scheduled" or not sent["send_at"]
            else "Message scheduled.",
        )
        return redirect("console:push-message", message_id=sent["id"])
    context = _messages_context(request, form=form, form_errors=errors)
    return render(request, "admin_ui/push/index.html", context, status=status)


@console_page
def push_message(request, message_id: str):
    params = {"limit": "50"}
    state = request.GET.get("state", "")
    if state in messages.COUNTED:
        params["state"] = state
    else:
        state = ""
    if request.GET.get("cursor"):
        params["cursor"] = request.GET["cursor"]
    try:
        found = messages.message_get(
            actor=request.user, message_id=message_id, params=params
        )
    except ApiError as exc:
        context = {"tabs": _tabs("messages"), "error": exc.errors[0].message}
        return render(request, "admin_ui/push/missing.html", context, status=exc.status)
    kind, target = next(iter(found["to"].items()))
    context = {
        "tabs": _tabs("messages"),
        "message": found,
        "target_kind": kind,
        "target": ", ".join(target) if isinstance(target, list) else target,
        "data_json": orjson.dumps(found["data"], option=orjson.OPT_INDENT_2).decode()
        if found["data"]
        else "",
        "counts": [
            (s, s.replace("_", " "), found["counts"][s]) for s in messages.COUNTED
        ],
        "times": {key: when(found[key]) for key in ("created", "started", "finished")},
        "send_at": when(found["send_at"])
        if isinstance(found["send_at"], str)
        else None,
        "results": [
            dict(r, sent=when(r["sent_at"]), opened=when(r["opened_at"]))
            for r in found["results"]["items"]
        ],
        "next_cursor": found["results"]["next_cursor"],
        "paged": bool(request.GET.get("cursor")),
        "state": state,
        "cancellable": found["state"] == "scheduled",
    }
    return render(request, "admin_ui/push/message.html", context)


@console_page
@require_POST
def push_cancel(request, message_id: str):
    try:
        messages.message_cancel(actor=request.user, message_id=message_id)
    except ApiError as exc:
        flash.error(request, exc.errors[0].message)
    else:
        flash.success(request, "Message cancelled.")
    return redirect("console:push-message", message_id=message_id)


# --- devices -----------------------------------------------------------------------


@console_page
def push_devices(request):
    rows = Device.objects.select_related("user")
    platform = request.GET.get("platform", "")
    if platform in dict(PLATFORMS):
        rows = rows.filter(platform=platform)
    else:
        platform = ""
    active = request.GET.get("active", "")
    if active in ("yes", "no"):
        rows = rows.filter(active=active == "yes")
    else:
        active = ""
    params = {"limit": "50"}
    if request.GET.get("cursor"):
        params["cursor"] = request.GET["cursor"]
    error = None
    try:
        page, next_cursor = newest_first(rows, "updated", params)
    except ApiError as exc:
        page, next_cursor, error = [], None, exc.errors[0].message
    context = {
        "tabs": _tabs("devices"),
        "devices": page,
        "next_cursor": next_cursor,
        "paged": bool(request.GET.get("cursor")),
        "platform": platform,
        "platforms": PLATFORMS,
        "active": active,
        "total": rows.count(),
        "error": error,
    }
    return render(request, "admin_ui/push/devices.html", context)


# --- topic rules ---------------------------------------------------------------------


def _topics_context(request, **extra) -> dict:
    return {
        "tabs": _tabs("topics"),
        "topics": topics.topic_list(actor=request.user),
        "form": {},
        "form_errors": {},
        **extra,
    }


def _rule_from_form(post) -> str | None:
    """`null` (superusers only) when "superusers only" is ticked, else the text
    ("" = any signed-in user)."""
    if post.get("superusers_only"):
        return None
    return post.get("rule", "").strip()


@console_page
def push_topics(request):
    if request.method == "POST":
        form = {
            "name": request.POST.get("name", "").strip(),
            "rule": request.POST.get("rule", ""),
            "superusers_only": bool(request.POST.get("superusers_only")),
        }
        try:
            topics.topic_create(
                actor=request.user,
                data={"name": form["name"], "rule": _rule_from_form(request.POST)},
                request=request,
            )
        except ApiError as exc:
            param, text = exc.errors[0].param, exc.errors[0].message
            context = _topics_context(
                request,
                form=form,
                form_errors={param if param in ("name", "rule") else "form": text},
            )
            return render(
                request, "admin_ui/push/topics.html", context, status=exc.status
            )
        flash.success(request, f"Topic rule {form['name']} created.")
        return redirect("console:push-topics")
    return render(request, "admin_ui/push/topics.html", _topics_context(request))


@console_page
@require_POST
def push_topic_update(request, name: str):
    try:
        topics.topic_update(
            actor=request.user,
            name=name,
            data={"rule": _rule_from_form(request.POST)},
            request=request,
        )
    except ApiError as exc:
        context = _topics_context(
            request,
            edit_name=name,
            edit_error=exc.errors[0].message,
            edit_rule=request.POST.get("rule", ""),
        )
        return render(request, "admin_ui/push/topics.html", context, status=exc.status)
    flash.success(request, f"Topic rule {name} saved.")
    return redirect("console:push-topics")


@console_page
@require_POST
def push_topic_delete(request, name: str):
    try:
        topics.topic_delete(actor=request.user, name=name, request=request)
    except ApiError as exc:
        flash.error(request, exc.errors[0].message)
    else:
        flash.success(request, f"Topic rule {name} deleted.")
    return redirect("console:push-topics")


urlpatterns = [
    path("push/", push_page, name="push"),
    path("push/send/", push_send, name="push-send"),
    path("push/devices/", push_devices, name="push-devices"),
    path("push/topics/", push_topics, name="push-topics"),
    path("push/topics/<str:name>/", push_topic_update, name="push-topic-update"),
    path("push/topics/<str:name>/delete/", push_topic_delete, name="push-topic-delete"),
    path("push/<str:message_id>/", push_message, name="push-message"),
    path("push/<str:message_id>/cancel/", push_cancel, name="push-cancel"),
]
