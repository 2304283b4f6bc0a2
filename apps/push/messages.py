"""Push messages: validated and stored here, sent by apps.push.sending. Superusers,
`push:send` keys and server code (`baas.push.send`) send; the console reads them."""

from __future__ import annotations

import datetime as dt
import re

import orjson
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.permissions import has_scope
from apps.core import outbox
from apps.core.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from apps.core.paging import format_time, newest_first, parse_limit
from apps.push import topics as topic_rules
from apps.push.models import Delivery, Message

SCOPE = "push:send"
START_TASK = "baas.push.start"
MAX_IDS = 10_000  # users or devices named in one message
MAX_PAYLOAD = 4096  # notification + data, as JSON (the providers' own limit)
MAX_OVERRIDES = 8192
MAX_TTL = 28 * 86400  # what FCM, APNs and Web Push services keep
NOTIFICATION = {"title": 250, "body": 2000, "image": 2000, "sound": 100}
PLATFORM_OVERRIDES = ("fcm", "apns", "webpush")
FIELDS = frozenset(
    {
        "to",
        "notification",
        "data",
        "send_at",
        "ttl",
        "collapse_key",
        "priority",
        "overrides",
    }
)
LOCAL_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
COUNTED = ("queued", "sent", "failed", "invalid_token", "opened")
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def require_sender(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    if not has_scope(actor, SCOPE):
        raise Forbidden("Only superusers and API keys with the `push:send` scope.")


def _label(actor) -> str:
    if isinstance(actor, KeyPrincipal):
        return f"key:{actor.key_id}" if actor.key_id else f"system:{actor.name}"
    return f"user:{getattr(actor, 'pk', '')}"


# --- validation ----------------------------------------------------------------------


def _ids(value, param: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_IDS
        or not all(isinstance(v, str) and ID.fullmatch(v) for v in value)
    ):
        raise InvalidInput(f"{param} is a list of 1 to {MAX_IDS} ids.", param=param)
    return sorted(set(value))


def _to(value) -> dict:
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidInput(
            "to names exactly one of users, topic, devices or filter.", param="to"
        )
    ((kind, target),) = value.items()
    if kind in ("users", "devices"):
        return {kind: _ids(target, f"to.{kind}")}
    if kind == "topic":
        if not isinstance(target, str) or not topic_rules.TOPIC.fullmatch(target):
            raise InvalidInput("to.topic is a topic name.", param="to.topic")
        return {"topic": target}
    if kind == "filter":
        from apps.push.targets import check_filter

        check_filter(target)
        return {"filter": target}
    raise InvalidInput(
        "to names exactly one of users, topic, devices or filter.", param="to"
    )


def _notification(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("notification is an object.", param="notification")
    clean: dict = {}
    for key, item in value.items():
        param = f"notification.{key}"
        if key == "badge":
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                raise InvalidInput("badge is a whole number, 0 or more.", param=param)
        elif key in NOTIFICATION:
            if not isinstance(item, str) or len(item) > NOTIFICATION[key]:
                raise InvalidInput(
                    f"{key} is text of at most {NOTIFICATION[key]}.", param=param
                )
            if key == "image" and not item.startswith("https://"):
                raise InvalidInput("image is an https:// URL.", param=param)
        else:
            raise InvalidInput(f"Unknown notification property {key!r}.", param=param)
        clean[key] = item
    return clean


def _data(value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInput(
            "data is an object of text values (as FCM carries them).", param="data"
        )
    return value


def _send_at(value) -> tuple[dt.datetime | None, str]:
    if value is None:
        return None, ""
    if isinstance(value, dict):
        local = value.get("local")
        if set(value) != {"local"} or not (
            isinstance(local, str) and LOCAL_TIME.fullmatch(local)
        ):
            raise InvalidInput(
                'send_at is an RFC 3339 time or {"local": "HH:MM"}.',
                param="send_at.local",
            )
        return None, local
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            if moment > timezone.now() + dt.timedelta(days=366):
                raise InvalidInput("send_at is at most a year ahead.", param="send_at")
            return moment, ""
    raise InvalidInput(
        'send_at is an RFC 3339 time with its offset, or {"local": "HH:MM"}.',
        code="invalid_time",
        param="send_at",
    )


def _options(data: dict) -> dict:
    options: dict = {}
    ttl = data.get("ttl")
    if ttl is not None:
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= MAX_TTL:
            raise InvalidInput(f"ttl is 0 to {MAX_TTL} seconds.", param="ttl")
        options["ttl"] = ttl
    collapse = data.get("collapse_key")
    if collapse is not None:
        if not isinstance(collapse, str) or not 1 <= len(collapse.encode()) <= 64:
            raise InvalidInput(
                "collapse_key is text of at most 64 bytes.", param="collapse_key"
            )
        options["collapse_key"] = collapse
    priority = data.get("priority", "high")
    if priority not in ("high", "normal"):
        raise InvalidInput("priority is high or normal.", param="priority")
    options["priority"] = priority
    overrides = data.get("overrides")
    if overrides is not None:
        if (
            not isinstance(overrides, dict)
            or set(overrides) - set(PLATFORM_OVERRIDES)
            or not all(isinstance(v, dict) for v in overrides.values())
        ):
            raise InvalidInput(
                "overrides has fcm, apns and webpush objects.", param="overrides"
            )
        if len(orjson.dumps(overrides)) > MAX_OVERRIDES:
            raise InvalidInput(
                f"overrides is at most {MAX_OVERRIDES} bytes.", param="overrides"
            )
        options["overrides"] = overrides
    return options


def clean_message(data) -> dict:
    """A message as the API accepts it (400 names the first problem)."""
    if not isinstance(data, dict):
        raise InvalidInput("A message is a JSON object.", code="invalid_type")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(
            f"Unknown message property {unknown[0]!r}.", param=unknown[0]
        )
    if "to" not in data:
        raise InvalidInput("to is required.", code="required", param="to")
    to = _to(data["to"])
    notification = _notification(data.get("notification"))
    payload = _data(data.get("data"))
    if not notification and not payload:
        raise InvalidInput(
            "A message has a notification, data, or both.",
            code="required",
            param="notification",
        )
    if len(orjson.dumps([notification, payload])) > MAX_PAYLOAD:
        raise InvalidInput(
            f"notification and data together are at most {MAX_PAYLOAD} bytes.",
            code="too_large",
            param="data",
        )
    send_at, local_time = _send_at(data.get("send_at"))
    return {
        "to": to,
        "notification": notification,
        "data": payload,
        "options": _options(data),
        "send_at": send_at,
        "local_time": local_time,
    }


# --- services ------------------------------------------------------------------------


def message_send(*, actor, data) -> dict:
    """Store a message and start sending it (after commit), or schedule it."""
    require_sender(actor)
    clean = clean_message(data)
    with transaction.atomic():
        message = Message.objects.create(created_by=_label(actor), **clean)
        due = not message.local_time and (
            message.send_at is None or message.send_at <= timezone.now()
        )
        # Scheduled ones are started by the tick (apps.push.sending) when due; a local
        # time is resolved now, each device then waits for its own moment.
        if due or message.local_time:
            outbox.enqueue(START_TASK, message.id, _after_commit=True)
    return to_json(message)


def _get(message_id) -> Message:
    message = (
        Message.objects.filter(pk=message_id).first()
        if isinstance(message_id, str)
        else None
    )
    if message is None:
        raise NotFound("No such message.", code="message_not_found")
    return message


def counts(message: Message) -> dict[str, int]:
    found = dict(
        message.deliveries.values_list("state").annotate(n=Count("id")).order_by()
    )
    return {state: found.get(state, 0) for state in COUNTED}


def _maybe(moment) -> str | None:
    return None if moment is None else format_time(moment)


def to_json(message: Message, *, with_counts: bool = False) -> dict:
    body = {
        "id": message.id,
        "state": message.state,
        "to": message.to,
        "notification": message.notification,
        "data": message.data,
        **message.options,
        "send_at": (
            {"local": message.local_time}
            if message.local_time
            else _maybe(message.send_at)
        ),
        "created_by": message.created_by,
        "created": format_time(message.created),
        "started": _maybe(message.started),
        "finished": _maybe(message.finished),
        "total": message.total,
    }
    if with_counts:
        body["counts"] = counts(message)
    return body


def delivery_json(delivery: Delivery) -> dict:
    return {
        "id": str(delivery.id),
        "device": delivery.device_id,
        "user": delivery.user_id,
        "platform": delivery.platform,
        "state": delivery.state,
        "reason": delivery.reason,
        "provider_id": delivery.provider_id,
        "attempts": delivery.attempts,
        "due": _maybe(delivery.due_at),
        "sent_at": _maybe(delivery.sent_at),
        "opened_at": _maybe(delivery.opened_at),
    }


def _results(message: Message, params) -> dict:
    """Per-device results, in id order: `?state=`, `?limit=`, `?cursor=`."""
    rows = message.deliveries.order_by("id")
    state = params.get("state")
    if state:
        if state not in COUNTED:
            raise InvalidInput(f"state is one of {', '.join(COUNTED)}.", param="state")
        rows = rows.filter(state=state)
    cursor = params.get("cursor")
    if cursor:
        if not cursor.isdigit() or len(cursor) > 19:
            raise InvalidInput(
                "The cursor is not valid.", code="invalid_cursor", param="cursor"
            )
        rows = rows.filter(id__gt=int(cursor))
    limit = parse_limit(params)
    page = list(rows[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return {
        "items": [delivery_json(d) for d in page],
        "next_cursor": str(page[-1].id) if more and page else None,
    }


def message_get(*, actor, message_id: str, params=None) -> dict:
    require_sender(actor)
    message = _get(message_id)
    body = to_json(message, with_counts=True)
    body["results"] = _results(message, params or {})
    return body


def message_list(*, actor, params) -> dict:
    require_sender(actor)
    messages = Message.objects.all()
    state = params.get("state")
    if state:
        if state not in dict(Message.STATES):
            raise InvalidInput(
                "state is scheduled, sending, done or cancelled.", param="state"
            )
        messages = messages.filter(state=state)
    rows, cursor = newest_first(messages, "created", params)
    return {"items": [to_json(m) for m in rows], "next_cursor": cursor}


def message_cancel(*, actor, message_id: str) -> dict:
    """Cancel a message no device has been sent yet: its deliveries go."""
    require_sender(actor)
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or not isinstance(message_id, str):
            raise NotFound("No such message.", code="message_not_found")
        if message.state == "cancelled":
            return to_json(message, with_counts=True)
        started = message.deliveries.exclude(state="queued").exists() or (
            message.deliveries.exclude(claimed_by="").exists()
        )
        if message.state not in ("scheduled", "sending") or started:
            raise Conflict(
                "The message is being sent or was sent; it cannot be cancelled.",
                code="already_sent",
            )
        message.deliveries.all().delete()
        message.state = "cancelled"
        message.finished = timezone.now()
        message.save(update_fields=["state", "finished"])
    return to_json(message, with_counts=True)


def message_opened(*, actor, message_id: str, data) -> dict:
    """The app reports that its user opened the message (on one device, or on all
    of the user's devices it reached)."""
    from apps.push.devices import require_user

    user = require_user(actor)
    data = data if isinstance(data, dict) else {}
    unknown = sorted(set(data) - {"device"})
    if unknown:
        raise InvalidInput(f"Unknown property {unknown[0]!r}.", param=unknown[0])
    rows = Delivery.objects.filter(
        message_id=message_id if isinstance(message_id, str) else "", user_id=user.pk
    )
    device = data.get("device")
    if device is not None:
        if not isinstance(device, str):
            raise InvalidInput("device is a device id.", param="device")
        rows = rows.filter(device_id=device)
    if not rows.exists():
        raise NotFound("No such message.", code="message_not_found")
    now = timezone.now()
    opened = rows.filter(state__in=("sent", "queued")).update(
        state="opened", opened_at=now
    )
    return {"opened": opened}
