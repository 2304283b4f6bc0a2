"""Console page: realtime channels (CRUD through apps.realtime.channels, as the API
does) and the live state this process can see without asking another one."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages as flash
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_POST

from admin_ui.access import console_page
from apps.core.exceptions import ApiError
from apps.realtime import channels, hub, presence

log = logging.getLogger(__name__)


def live_state() -> dict:
    """What is known here and now: this process's hub when it runs one (the
    single-process fallback, tests), else with Redis the realtime processes that
    sent a heartbeat; else nothing (`baas serve` runs realtime in its own process)."""
    running = hub._hub
    if running is not None and running.loop is not None:
        connections = list(running.connections)
        return {
            "source": "process",
            "connections": len(connections),
            "subscriptions": sum(len(c.subscriptions) for c in connections),
            "channels": len(running.channels),
            "present": sum(len(users) for users in running.present.values()),
        }
    if settings.REDIS_URL:
        try:
            import redis

            client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1
            )
            procs = client.smembers(presence.PROCS)
            alive = sum(
                1 for proc in procs if client.exists(f"baas:rt:proc:{proc.decode()}")
            )
            client.close()
        except Exception:  # Redis down: say so rather than show a number
            log.warning("realtime state: Redis unreachable", exc_info=True)
            return {"source": "unreachable"}
        return {"source": "redis", "processes": alive}
    return {"source": "none"}


def _context(request, **extra) -> dict:
    return {
        "channels": channels.channel_list(actor=request.user),
        "live": live_state(),
        "form": {"presence": False},
        "form_errors": {},
        **extra,
    }


def _rule(post, action: str) -> str | None:
    """`null` (superusers only) when that box is ticked, else the text ("" = anyone)."""
    if post.get(f"{action}_superusers"):
        return None
    return post.get(f"{action}_rule", "").strip()


def _definition(post) -> dict:
    return {
        "rules": {action: _rule(post, action) for action in channels.ACTIONS},
        "presence": bool(post.get("presence")),
    }


FIELDS = {
    "name": "name",
    "rules.subscribe": "subscribe",
    "rules.publish": "publish",
    "rules": "subscribe",
    "presence": "presence",
}


@console_page
def realtime_page(request):
    if request.method == "POST":
        post = request.POST
        form = {
            "name": post.get("name", "").strip(),
            "subscribe_rule": post.get("subscribe_rule", ""),
            "publish_rule": post.get("publish_rule", ""),
            "subscribe_superusers": bool(post.get("subscribe_superusers")),
            "publish_superusers": bool(post.get("publish_superusers")),
            "presence": bool(post.get("presence")),
        }
        try:
            channels.channel_create(
                actor=request.user,
                data={"name": form["name"], **_definition(post)},
                request=request,
            )
        except ApiError as exc:
            param, text = exc.errors[0].param, exc.errors[0].message
            errors = {FIELDS.get(param or "", "form"): text}
            context = _context(request, form=form, form_errors=errors)
            return render(
                request, "admin_ui/realtime/index.html", context, status=exc.status
            )
        flash.success(request, f"Channel {form['name']} created.")
        return redirect("console:realtime")
    return render(request, "admin_ui/realtime/index.html", _context(request))


@console_page
@require_POST
def channel_update(request, name: str):
    try:
        channels.channel_update(
            actor=request.user,
            name=name,
            data=_definition(request.POST),
            request=request,
        )
    except ApiError as exc:
        context = _context(request, edit_name=name, edit_error=exc.errors[0].message)
        return render(
            request, "admin_ui/realtime/index.html", context, status=exc.status
        )
    flash.success(request, f"Channel {name} saved.")
    return redirect("console:realtime")


@console_page
@require_POST
def channel_delete(request, name: str):
    try:
        channels.channel_delete(actor=request.user, name=name, request=request)
    except ApiError as exc:
        flash.error(request, exc.errors[0].message)
    else:
        flash.success(request, f"Channel {name} deleted.")
    return redirect("console:realtime")


urlpatterns = [
    path("realtime/", realtime_page, name="realtime"),
    path("realtime/channels/<str:name>/", channel_update, name="channel-update"),
    path("realtime/channels/<str:name>/delete/", channel_delete, name="channel-delete"),
]
