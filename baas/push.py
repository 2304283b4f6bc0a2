"""Push notifications from server code (hooks, routes, tasks): `send` is what
`POST /api/v1/push/messages` does, as the server itself.

    from baas import push

    @after("create", "orders")
    def tell_the_buyer(event):
        push.send(
            to={"users": [event.data["buyer"]]},
            notification={"title": "Order received", "body": event.data["title"]},
            data={"order": event.record_id},
        )
"""

from __future__ import annotations

from typing import Any

from apps.accounts.apikeys import KeyPrincipal

#: how server code sends: as the server, with the `push:send` scope
SERVER = KeyPrincipal(key_id="", name="server code", scopes=frozenset({"push:send"}))


def send(
    *,
    to: dict[str, Any],
    notification: dict[str, Any] | None = None,
    data: dict[str, str] | None = None,
    send_at: str | dict[str, str] | None = None,
    ttl: int | None = None,
    collapse_key: str | None = None,
    priority: str | None = None,
    overrides: dict[str, dict] | None = None,
) -> dict:
    """Queue a message (validated as the API validates it; ApiError when it is not
    valid) and return it as `GET /push/messages/{id}` shows it: `["id"]` is its id.
    Sent after the caller's transaction commits."""
    from apps.push.messages import message_send

    body: dict[str, Any] = {"to": to}
    for key, value in (
        ("notification", notification),
        ("data", data),
        ("send_at", send_at),
        ("ttl", ttl),
        ("collapse_key", collapse_key),
        ("priority", priority),
        ("overrides", overrides),
    ):
        if value is not None:
            body[key] = value
    return message_send(actor=SERVER, data=body)


def status(message_id: str) -> dict:
    """A message's state and counts per device state (as the API shows them)."""
    from apps.push.messages import message_get

    return message_get(actor=SERVER, message_id=message_id)


def cancel(message_id: str) -> dict:
    """Cancel a message no device was sent yet (ApiError 409 otherwise)."""
    from apps.push.messages import message_cancel

    return message_cancel(actor=SERVER, message_id=message_id)
