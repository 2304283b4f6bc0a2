"""Frames and close codes of `/api/v1/realtime` (docs/realtime.md lists them for apps)."""

from __future__ import annotations

import orjson

# Close codes (WebSocket). SSE streams end the same way, without a code.
NORMAL = 1000
GOING_AWAY = 1001  # the server is shutting down: reconnect (elsewhere) and resume
TOO_BIG = 1009  # a frame over BAAS_REALTIME_MAX_FRAME
INTERNAL = 1011
AUTH_EXPIRED = 4001  # the access token expired (or was invalid): refresh, reconnect
AUTH_REVOKED = 4003  # the session ended or the account was deactivated: sign in again
SLOW_CONSUMER = 4008  # the client read too slowly: its send queue filled up
RATE_LIMITED = 4029  # too many frames, or too many connections for this user


def error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    param: str | None = None,
) -> bytes:
    """An error frame: the API's error envelope, with `type` and the request's `id`."""
    item: dict = {"code": code, "message": message}
    if param is not None:
        item["param"] = param
    frame: dict = {"type": "error"}
    if request_id is not None:
        frame["id"] = request_id
    frame.update({"status": status, "errors": [item]})
    return orjson.dumps(frame)


def frame(kind: str, **fields) -> bytes:
    return orjson.dumps({"type": kind, **fields})
