"""Devices: app users register their app installs (FCM, APNs) and browser
subscriptions (Web Push), subscribe them to topics, and unregister them. A token is one
device whoever registers it last: registering it again updates the row, and a token
registered by another account moves to that account (a shared or resold phone)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zoneinfo

from django.db import IntegrityError, transaction

from apps.accounts.models import User
from apps.core.exceptions import Forbidden, InvalidInput, NotFound, Unauthenticated
from apps.push import topics as topic_rules
from apps.push.models import Device, DeviceTopic

PLATFORMS = ("fcm", "apns", "webpush")
FIELDS = frozenset(
    {"platform", "token", "subscription", "topics", "app_version", "locale", "timezone"}
)
MAX_TOPICS_PER_DEVICE = 100
#: active devices one user keeps; registering more deactivates the least recent
MAX_DEVICES_PER_USER = 100
FCM_TOKEN = re.compile(r"[\x21-\x7e]{16,4096}")  # printable, no spaces
APNS_TOKEN = re.compile(r"[0-9a-f]{64,200}")
LOCALE = re.compile(r"[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8}){0,4}")


def require_user(actor) -> User:
    """The app user behind a request (devices belong to users, not to API keys)."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    if not isinstance(actor, User):
        raise Forbidden("Devices belong to users: sign in as the app's user.")
    return actor


def token_hash(platform: str, token: str) -> str:
    return hashlib.sha256(f"{platform}\0{token}".encode()).hexdigest()


def _time(value) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(device: Device, topics: list[str] | None = None) -> dict:
    if topics is None:
        topics = sorted(device.topics.values_list("topic", flat=True))
    body = {
        "id": device.id,
        "platform": device.platform,
        "token": device.token,
        "topics": topics,
        "app_version": device.app_version,
        "locale": device.locale,
        "timezone": device.timezone,
        "active": device.active,
        "created": _time(device.created),
        "updated": _time(device.updated),
    }
    if device.platform == "webpush":
        body["subscription"] = {"endpoint": device.token, "keys": device.keys}
        del body["token"]
    return body


def _b64url(value, *, param: str, size: int) -> str:
    if not isinstance(value, str) or len(value) > 200:
        raise InvalidInput("A base64url string.", param=param)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("Not base64url.", param=param) from None
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise InvalidInput(f"Expected {size} bytes.", param=param)
    return value.rstrip("=")


def _subscription(value) -> tuple[str, dict]:
    """A browser PushSubscription JSON -> (endpoint, keys), on an allowed host."""
    from apps.push import vapid

    if not isinstance(value, dict) or not isinstance(value.get("keys"), dict):
        raise InvalidInput(
            "subscription is the browser's PushSubscription: {endpoint, keys: "
            "{p256dh, auth}}.",
            param="subscription",
        )
    endpoint = value.get("endpoint")
    if not isinstance(endpoint, str):
        raise InvalidInput("endpoint is a URL.", param="subscription.endpoint")
    vapid.check_endpoint(endpoint)
    keys = value["keys"]
    return endpoint, {
        "p256dh": _b64url(
            keys.get("p256dh"), param="subscription.keys.p256dh", size=65
        ),
        "auth": _b64url(keys.get("auth"), param="subscription.keys.auth", size=16),
    }


def _optional_text(data: dict, name: str, pattern=None, max_length=50) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_length:
        raise InvalidInput(f"{name} is text of at most {max_length}.", param=name)
    if pattern is not None and value and not pattern.fullmatch(value):
        raise InvalidInput(f"{name} is not valid.", param=name)
    return value


def _timezone(data: dict) -> str:
    value = _optional_text(data, "timezone", max_length=64)
    if value:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(
                "timezone is an IANA time zone name, like Europe/Paris.",
                code="invalid_timezone",
                param="timezone",
            ) from None
    return value


def _topics(user, value) -> list[str] | None:
    """The topics listed, each one the user may subscribe to (403 names the first
    that is not); None when the registration names none."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_TOPICS_PER_DEVICE:
        raise InvalidInput(
            f"topics is a list of at most {MAX_TOPICS_PER_DEVICE} names.",
            param="topics",
        )
    for index, name in enumerate(value):
        check_topic(user, name, param=f"topics.{index}")
    return sorted(set(value))


def check_topic(user, name, *, param: str = "topic") -> str:
    if not isinstance(name, str) or not topic_rules.TOPIC.fullmatch(name):
        raise InvalidInput(
            "A topic is 1-100 letters, digits or _.~%-.",
            code="invalid_topic",
            param=param,
        )
    if not topic_rules.may_subscribe(user, name):
        raise Forbidden(
            f"You may not subscribe to the topic {name!r}.",
            code="topic_forbidden",
            param=param,
        )
    return name


def device_register(*, actor, data) -> tuple[dict, bool]:
    """Register (or update) a device of the signed-in user: (device, created)."""
    user = require_user(actor)
    if not isinstance(data, dict):
        raise InvalidInput("A device is a JSON object.", code="invalid_type")
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown device property {unknown[0]!r}.", param=unknown[0])
    platform = data.get("platform")
    if platform not in PLATFORMS:
        raise InvalidInput(
            "platform is fcm, apns or webpush.",
            code="invalid_platform",
            param="platform",
        )
    keys = None
    if platform == "webpush":
        if "token" in data:
            raise InvalidInput(
                "A Web Push device sends its subscription, not a token.", param="token"
            )
        token, keys = _subscription(data.get("subscription"))
    else:
        if "subscription" in data:
            raise InvalidInput(
                "Only Web Push devices send a subscription.", param="subscription"
            )
        token = data.get("token")
        pattern = FCM_TOKEN if platform == "fcm" else APNS_TOKEN
        if isinstance(token, str) and platform == "apns":
            token = token.lower()
        if not isinstance(token, str) or not pattern.fullmatch(token):
            raise InvalidInput(
                "token is the device token the platform gave the app"
                + (" (hex)." if platform == "apns" else "."),
                code="invalid_token",
                param="token",
            )
    fields = {
        "user": user,
        "platform": platform,
        "token": token,
        "keys": keys,
        "app_version": _optional_text(data, "app_version"),
        "locale": _optional_text(data, "locale", LOCALE, max_length=35),
        "timezone": _timezone(data),
        "active": True,
        "deactivated_reason": "",
    }
    topics = _topics(user, data.get("topics"))
    digest = token_hash(platform, token)
    for _ in range(2):  # a concurrent first registration of the token: update it
        try:
            with transaction.atomic():
                device, created = _upsert(digest, fields)
                if topics is not None:
                    _set_topics(device, topics)
                _cap_devices(user)
            return to_json(device), created
        except IntegrityError:
            continue
    raise InvalidInput("The device could not be registered; try again.")


def _upsert(digest: str, fields: dict) -> tuple[Device, bool]:
    device = Device.objects.select_for_update().filter(token_hash=digest).first()
    if device is None:
        return Device.objects.create(token_hash=digest, **fields), True
    if device.user_id != fields["user"].pk:
        # Another account on the device: what it subscribed to is not the new user's.
        device.topics.all().delete()
    for key, value in fields.items():
        setattr(device, key, value)
    device.save()
    return device, False


def _set_topics(device: Device, topics: list[str]) -> None:
    device.topics.exclude(topic__in=topics).delete()
    have = set(device.topics.values_list("topic", flat=True))
    DeviceTopic.objects.bulk_create(
        [DeviceTopic(device=device, topic=t) for t in topics if t not in have]
    )


def _cap_devices(user) -> None:
    active = Device.objects.filter(user=user, active=True).order_by("-updated")
    stale = list(active.values_list("id", flat=True)[MAX_DEVICES_PER_USER:])
    if stale:
        Device.objects.filter(id__in=stale).update(
            active=False, deactivated_reason="replaced by newer devices of the user"
        )


def _own(user, device_id) -> Device:
    device = (
        Device.objects.filter(id=device_id, user=user).first()
        if isinstance(device_id, str)
        else None
    )
    if device is None:
        raise NotFound("No such device.", code="device_not_found")
    return device


def device_list(*, actor) -> list[dict]:
    user = require_user(actor)
    devices = list(Device.objects.filter(user=user).order_by("-created"))
    names: dict[str, list[str]] = {}
    for device_id, topic in DeviceTopic.objects.filter(device__in=devices).values_list(
        "device_id", "topic"
    ):
        names.setdefault(device_id, []).append(topic)
    return [to_json(d, sorted(names.get(d.id, []))) for d in devices]


def device_get(*, actor, device_id: str) -> dict:
    return to_json(_own(require_user(actor), device_id))


def device_delete(*, actor, device_id: str) -> None:
    _own(require_user(actor), device_id).delete()


def topic_subscribe(*, actor, topic: str, data, subscribe: bool) -> dict:
    """Subscribe (or unsubscribe) the user's active devices, or those listed in
    `devices`, to `topic`. Unsubscribing needs no rule."""
    user = require_user(actor)
    if subscribe:
        check_topic(user, topic)
    elif not isinstance(topic, str) or not topic_rules.TOPIC.fullmatch(topic):
        raise InvalidInput("Not a topic name.", code="invalid_topic", param="topic")
    data = data if isinstance(data, dict) else {}
    unknown = sorted(set(data) - {"devices"})
    if unknown:
        raise InvalidInput(f"Unknown property {unknown[0]!r}.", param=unknown[0])
    devices = Device.objects.filter(user=user, active=True)
    listed = data.get("devices")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(i, str) for i in listed):
            raise InvalidInput("devices is a list of device ids.", param="devices")
        devices = devices.filter(id__in=listed[:MAX_DEVICES_PER_USER])
        if devices.count() != len(set(listed)):
            raise NotFound("No such device.", code="device_not_found", param="devices")
    ids = list(devices.values_list("id", flat=True))
    with transaction.atomic():
        if subscribe:
            DeviceTopic.objects.bulk_create(
                [DeviceTopic(device_id=i, topic=topic) for i in ids],
                ignore_conflicts=True,
            )
        else:
            DeviceTopic.objects.filter(device_id__in=ids, topic=topic).delete()
    return {"topic": topic, "devices": sorted(ids), "subscribed": subscribe}


def export_devices(user_id: str) -> list[dict]:
    """The user's devices for the account export, each with what it was sent."""
    from apps.push.models import Delivery

    found = []
    for device in Device.objects.filter(user_id=user_id).order_by("created"):
        body = to_json(device)
        body["deliveries"] = [
            {
                "message": message_id,
                "notification": notification,
                "state": state,
                "reason": reason,
                "sent_at": _time(sent) if sent else None,
                "opened_at": _time(opened) if opened else None,
            }
            for message_id, notification, state, reason, sent, opened in (
                Delivery.objects.filter(device=device, user_id=user_id)
                .order_by("id")
                .values_list(
                    "message_id",
                    "message__notification",
                    "state",
                    "reason",
                    "sent_at",
                    "opened_at",
                )
            )
        ]
        found.append(body)
    return found
