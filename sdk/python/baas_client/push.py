"""`client.push`: push notifications. Superusers and API keys with the `push:send` scope
(server-side code) send messages, schedule them, read their status and cancel them; app
users register their devices (FCM, APNs, Web Push), subscribe them to topics and report
opens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from baas_client._util import expect_object, segment
from baas_client.errors import BaasError

if TYPE_CHECKING:
    from baas_client.client import Client

Platform = Literal["fcm", "apns", "webpush"]
Priority = Literal["high", "normal"]
MessageState = Literal["scheduled", "sending", "done", "cancelled"]
ResultState = Literal["queued", "sent", "failed", "invalid_token", "opened"]


class WebPushKeys(TypedDict):
    p256dh: str
    auth: str


class WebPushSubscription(TypedDict):
    """A browser's PushSubscription as JSON (its `toJSON()`): `{"endpoint", "keys"}`."""

    endpoint: str
    keys: WebPushKeys


class PushDevice(TypedDict, total=False):
    """A registered device: `token` for FCM and APNs, `subscription` for Web Push;
    `active` is False once a provider rejected the token."""

    id: str
    platform: Platform
    token: str
    subscription: WebPushSubscription
    topics: list[str]
    app_version: str
    locale: str
    timezone: str
    active: bool
    created: str
    updated: str


class PushTarget(TypedDict, total=False):
    """Exactly one of `users` (ids), `topic`, `devices` (ids) or `filter` (an expression
    over the users collection, e.g. `"plan = 'pro'"`)."""

    users: list[str]
    topic: str
    devices: list[str]
    filter: str


class PushNotification(TypedDict, total=False):
    """`title`, `body`, `image` (an https URL), `badge` (iOS), `sound`."""

    title: str
    body: str
    image: str
    badge: int
    sound: str


class LocalTime(TypedDict):
    """`{"local": "09:00"}`: that time in each device's registered time zone."""

    local: str


# An RFC 3339 string with its offset, an aware datetime, or a local time of each device.
SendAt = str | datetime | LocalTime


class PushCounts(TypedDict):
    """Devices per result state."""

    queued: int
    sent: int
    failed: int
    invalid_token: int
    opened: int


class PushResult(TypedDict, total=False):
    """The result of a message on one device (`due`: when a queued one is due)."""

    id: str
    device: str | None
    user: str
    platform: Platform
    state: ResultState
    reason: str
    provider_id: str
    attempts: int
    due: str | None
    sent_at: str | None
    opened_at: str | None


class PushResults(TypedDict):
    """One page of per-device results: pass `next_cursor` as `cursor` for the next."""

    items: list[PushResult]
    next_cursor: str | None


class PushMessage(TypedDict, total=False):
    """A message as the server keeps it; `counts` comes with `status()` and `cancel()`,
    `results` with `status()`."""

    id: str
    state: MessageState
    to: PushTarget
    notification: PushNotification
    data: dict[str, str]
    ttl: int
    collapse_key: str
    priority: Priority
    overrides: dict[str, dict[str, Any]]
    send_at: str | LocalTime | None
    created_by: str
    created: str
    started: str | None
    finished: str | None
    total: int
    counts: PushCounts
    results: PushResults


class TopicSubscription(TypedDict):
    """The answer of `subscribe()` / `unsubscribe()`: the device ids concerned."""

    topic: str
    devices: list[str]
    subscribed: bool


class OpenedCount(TypedDict):
    """The answer of `report_opened()`: how many results became `opened`."""

    opened: int


@dataclass(frozen=True)
class MessagePage:
    """One page of messages, newest first; `next_cursor` is None at the end."""

    items: list[PushMessage] = field(default_factory=list)
    next_cursor: str | None = None


def _send_at(value: SendAt) -> str | LocalTime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "send_at: a datetime with its time zone (e.g. datetime.now(timezone.utc)"
                " + timedelta(hours=1)); the server needs the offset."
            )
        return value.isoformat()
    return value


def _query(state: str | None, limit: int | None, cursor: str | None) -> dict[str, str]:
    values = {
        "state": state,
        "limit": None if limit is None else str(limit),
        "cursor": cursor,
    }
    return {key: value for key, value in values.items() if value is not None}


class Push:
    """`client.push`: sending, scheduling, status and cancelling for superusers and
    `push:send` API keys; devices, topics and opens for app users.

    `send()` and `schedule()` take an optional `idempotency_key`: a retry with the same
    key gets the first answer instead of a second message. The other calls may simply be
    repeated (registering a token again updates its device).
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    # --- messages (superusers, `push:send` API keys) ------------------------------------

    def send(
        self,
        *,
        to: PushTarget | Mapping[str, Any],
        notification: PushNotification | Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        send_at: SendAt | None = None,
        ttl: int | None = None,
        collapse_key: str | None = None,
        priority: Priority | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> PushMessage:
        """Send a message; returns it (202) with its `id` and `state`.

        `to` names exactly one of `{"users": [ids]}`, `{"topic": name}`, `{"devices":
        [ids]}` or `{"filter": expression}`. A message has a `notification` (`title`,
        `body`, `image`, `badge`, `sound`), `data` (text values), or both (4096 bytes
        together at most). `send_at` (an aware datetime, an RFC 3339 string, or
        `{"local": "HH:MM"}` in each device's time zone) schedules it; `ttl` (seconds a
        provider keeps it for an offline device), `collapse_key`, `priority` (`"high"`,
        the default, or `"normal"`) and `overrides` (`{"fcm": ..., "apns": ...,
        "webpush": ...}`, merged over the payload) as the server's docs/push.md says.
        A mistake is a 400 `BaasError` whose `param` names the field.
        """
        body: dict[str, Any] = {"to": dict(to)}
        for key, value in (
            ("notification", notification),
            ("data", data),
            ("send_at", None if send_at is None else _send_at(send_at)),
            ("ttl", ttl),
            ("collapse_key", collapse_key),
            ("priority", priority),
            ("overrides", overrides),
        ):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        return cast(
            PushMessage,
            self._client.request_object(
                "POST", "/push/messages", json=body, idempotency_key=idempotency_key
            ),
        )

    def schedule(
        self,
        *,
        to: PushTarget | Mapping[str, Any],
        send_at: SendAt,
        notification: PushNotification | Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        ttl: int | None = None,
        collapse_key: str | None = None,
        priority: Priority | None = None,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
    ) -> PushMessage:
        """`send()` for later: `send_at` is required. The message stays `scheduled`
        until then and may be cancelled until it is sent."""
        if send_at is None:
            raise ValueError("schedule: send_at is required (or use send()).")
        return self.send(
            to=to,
            notification=notification,
            data=data,
            send_at=send_at,
            ttl=ttl,
            collapse_key=collapse_key,
            priority=priority,
            overrides=overrides,
            idempotency_key=idempotency_key,
        )

    def cancel(self, message_id: str) -> PushMessage:
        """Cancel a message no device has been sent yet; returns it, state
        `cancelled`. 409 `already_sent` once sending began."""
        return cast(
            PushMessage,
            self._client.request_object(
                "DELETE", f"/push/messages/{segment(message_id)}"
            ),
        )

    def status(
        self,
        message_id: str,
        *,
        state: ResultState | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> PushMessage:
        """One message with `counts` per device state (`queued`, `sent`, `failed`,
        `invalid_token`, `opened`) and one page of per-device `results`: `state` picks
        one state (e.g. `"failed"`), `cursor` is the previous page's
        `results["next_cursor"]`."""
        return cast(
            PushMessage,
            self._client.request_object(
                "GET",
                f"/push/messages/{segment(message_id)}",
                params=_query(state, limit, cursor),
            ),
        )

    def list_messages(
        self,
        *,
        state: MessageState | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> MessagePage:
        """Messages, newest first, one page; `state` (`scheduled`, `sending`, `done`,
        `cancelled`) filters, `cursor` is the previous page's `next_cursor`."""
        body = self._client.request_object(
            "GET", "/push/messages", params=_query(state, limit, cursor)
        )
        return MessagePage(
            items=list(body.get("items") or []), next_cursor=body.get("next_cursor")
        )

    # --- devices (app users) ------------------------------------------------------------

    def register_device(
        self,
        platform: Platform,
        token: str | None = None,
        *,
        subscription: WebPushSubscription | Mapping[str, Any] | None = None,
        topics: Sequence[str] | None = None,
        app_version: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> PushDevice:
        """Register a device for the signed-in user: `token` for `"fcm"` and `"apns"`
        (hex), `subscription` (`{"endpoint", "keys": {"p256dh", "auth"}}`) for
        `"webpush"`. Registering the same token again updates the device (same `id`);
        `topics`, when given, replace its topics. `timezone` (IANA, e.g.
        `"Europe/Paris"`) places `send_at={"local": ...}`; left out, UTC. Returns the
        device. 400 `invalid_token`, 403 `topic_forbidden` for a topic the topic rules
        refuse.
        """
        body: dict[str, Any] = {"platform": platform}
        for key, value in (
            ("token", token),
            ("subscription", subscription),
            ("topics", None if topics is None else list(topics)),
            ("app_version", app_version),
            ("locale", locale),
            ("timezone", timezone),
        ):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        return cast(
            PushDevice,
            self._client.request_object("POST", "/push/devices", json=body),
        )

    def list_devices(self) -> list[PushDevice]:
        """The signed-in user's devices, newest first (inactive ones too)."""
        body = self._client.request_object("GET", "/push/devices")
        return list(body.get("items") or [])

    def unregister_device(self, device_id: str) -> None:
        """Unregister one of the user's devices. 404 `device_not_found` for a device of
        another user."""
        self._client.request("DELETE", f"/push/devices/{segment(device_id)}")

    def subscribe(
        self, topic: str, devices: Sequence[str] | None = None
    ) -> TopicSubscription:
        """Subscribe the user's active devices (or those listed by id) to `topic`.
        403 `topic_forbidden` when the topic rules do not let the user."""
        return self._topic_subscription("POST", topic, devices)

    def unsubscribe(
        self, topic: str, devices: Sequence[str] | None = None
    ) -> TopicSubscription:
        """Unsubscribe the user's active devices (or those listed by id) from `topic`."""
        return self._topic_subscription("DELETE", topic, devices)

    def _topic_subscription(
        self, method: str, topic: str, devices: Sequence[str] | None
    ) -> TopicSubscription:
        return cast(
            TopicSubscription,
            self._client.request_object(
                method,
                f"/push/topics/{segment(topic)}/subscription",
                json=None if devices is None else {"devices": list(devices)},
            ),
        )

    def report_opened(self, message_id: str, device: str | None = None) -> OpenedCount:
        """The user opened a message (its id is the payload's `message_id`): its result
        on `device` (or on every device of the user it reached) becomes `opened`.
        Returns `{"opened": n}`. 404 `message_not_found` for a message that did not
        reach the user."""
        return cast(
            OpenedCount,
            self._client.request_object(
                "POST",
                f"/push/messages/{segment(message_id)}/opened",
                json={} if device is None else {"device": device},
            ),
        )

    def vapid_public_key(self) -> str:
        """The server's VAPID public key (base64url, 87 characters: a 65-byte P-256
        point), the `applicationServerKey` browsers subscribe with. Needs no sign-in."""
        body = expect_object(
            self._client.request(
                "GET", "/push/webpush/vapid-public-key", authenticate=False
            )
        )
        key = body.get("public_key")
        if not isinstance(key, str) or not key:
            raise BaasError(
                200,
                [{"code": "invalid_response", "message": "Expected `public_key`."}],
                body=body,
            )
        return key
