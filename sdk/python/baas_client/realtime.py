"""Realtime (`client.realtime`): record events and channels over one WebSocket.

docs/realtime.md is the protocol spoken here. One background thread (`baas-realtime`)
owns the WebSocket to `<base>/api/v1/realtime`: it signs in with the client's credential
and follows its tokens, subscribes, reads frames, pings, renews the access token before
it expires, and after a lost connection reconnects with backoff and resumes every record
subscription from its last change token, so each event arrives once, in order.

The app's callbacks run on a second thread (`baas-realtime-callbacks`), one at a time,
in the order the frames arrived: a slow callback never stalls the connection, and a
callback may itself call `subscribe()`, `publish()` or `close()`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from baas_client.errors import BaasError, ErrorItem

if TYPE_CHECKING:
    from baas_client.client import Client

log = logging.getLogger("baas_client.realtime")

RealtimeState = Literal["idle", "connecting", "open", "reconnecting"]


class RealtimeEvent(TypedDict):
    """One change of a record, in change-log order: `action` is `"create"`, `"update"`
    or `"delete"`; `record` is the record as it is now with the fields you may read
    (`{"id"}` only for a delete); `token` is where this change is in the change log."""

    action: Literal["create", "update", "delete"]
    record: dict[str, Any]
    token: str


# A message another client published: `from` (a keyword in Python, so `msg["from"]`) is
# the sender's user id, or None for an anonymous sender or an API key.
ChannelMessage = TypedDict(
    "ChannelMessage", {"topic": str, "data": Any, "from": "str | None"}
)


class PresenceChange(TypedDict):
    """A join or leave (`user` is the user id), or `"sync"` (`user` None) with the whole
    list whenever the channel's subscription is (re)acknowledged. `members` is the list
    after the change."""

    action: Literal["join", "leave", "sync"]
    user: str | None
    members: list[str]


EventCallback = Callable[[RealtimeEvent], object]
MessageCallback = Callable[[ChannelMessage], object]
PresenceCallback = Callable[[PresenceChange], object]
ErrorCallback = Callable[[BaasError], object]
StateCallback = Callable[[str], object]

# Close codes (docs/realtime.md#close-codes).
GOING_AWAY = 1001
TOO_BIG = 1009
AUTH_EXPIRED = 4001
SESSION_ENDED = 4003
SLOW_CONSUMER = 4008
_CHANNEL = "channel:"
_MAX_FRAME_IN = 64 * 1024 * 1024
_LOST = object()  # `_read`'s answer for a connection that went silent


def _failure(code: str, message: str, status: int = 0) -> BaasError:
    return BaasError(status, [{"code": code, "message": message}])


def _frame_error(frame: dict[str, Any]) -> BaasError:
    """An error frame (the API's envelope, with `type` and `id`) as a `BaasError`."""
    status = frame.get("status")
    status = status if isinstance(status, int) else 400
    items: list[ErrorItem] = []
    for entry in frame.get("errors") or []:
        if isinstance(entry, dict):
            item: ErrorItem = {
                "code": str(entry.get("code") or "error"),
                "message": str(entry.get("message") or ""),
            }
            if entry.get("param") is not None:
                item["param"] = str(entry["param"])
            items.append(item)
    return BaasError(status, items, body=frame)


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _check_callback(name: str, callback: object) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"{name}: pass a function.")


class _Pacer:
    """Keeps the frames sent under the server's rate limit (`BAAS_REALTIME_FRAME_RATE`
    and `_BURST`: 20/s, 60 at once), e.g. when a reconnect resubscribes many topics."""

    RATE = 15.0
    BURST = 40.0

    def __init__(self) -> None:
        self.allowance, self.at = self.BURST, time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        self.allowance = min(self.BURST, self.allowance + (now - self.at) * self.RATE)
        self.at = now
        if self.allowance < 1:
            time.sleep((1 - self.allowance) / self.RATE)
            self.allowance, self.at = 1.0, time.monotonic()
        self.allowance -= 1


class _Dispatcher:
    """The callbacks' thread: runs queued calls in order; what they raise is logged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None
        self.thread: threading.Thread | None = None

    def put(self, fn: Callable[[], object]) -> None:
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self.thread = threading.Thread(
                    target=self._loop,
                    args=(self._queue,),
                    name="baas-realtime-callbacks",
                    daemon=True,
                )
                self.thread.start()
            self._queue.put(fn)

    def stop(self) -> None:
        """End the thread once what is queued ran; a later `put()` starts a new one."""
        with self._lock:
            q, self._queue, self.thread = self._queue, None, None
        if q is not None:
            q.put(None)

    @staticmethod
    def _loop(q: queue.SimpleQueue) -> None:
        while True:
            fn = q.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("client.realtime: a callback raised")


class _Wire:
    """One subscription as the connection knows it: a record topic or a channel."""

    def __init__(
        self,
        sub_id: str,
        topic: str,
        owner: Subscription | Channel,
        filter: str | None = None,
        since: str | None = None,
    ) -> None:
        self.id = sub_id
        self.topic = topic
        self.owner = owner
        self.filter = filter
        self.channel = topic.startswith(_CHANNEL)
        self.token = since  # the last change token: sent as `since` after a reconnect
        # A resumed subscription's ack token becomes `token` once a pong shows that the
        # replay before it has arrived (a connection lost half way through the replay
        # resumes from the last event instead).
        self.ack_token: str | None = None
        self.advance_at = 0  # the pong count that proves it
        self.resumed = False  # the subscribe in flight carried `since`
        self.sent_gen = 0  # the connection it was sent on
        self.answered = False
        self.error: BaasError | None = None  # the first answer, when a refusal
        self.active = True


class _Pending:
    """A publish waiting for its `published` answer."""

    def __init__(self) -> None:
        self.sent_gen = 0
        self.done = False
        self.error: BaasError | None = None


class _Run:
    """One life of the realtime thread, until `close()` or nothing is subscribed."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.done = False
        self.connected = False  # a socket is open and frames may be sent
        self.ever_open = False
        self.wake = threading.Event()
        self.reconnect_now = False  # the tokens changed: connect again at once
        self.paused: str | None = None  # "idle" (refused credential) or "hold" (logout)
        self.pause_error: BaasError | None = None  # why "idle"
        self.attempts = 0  # failed connections since one worked


class Subscription:
    """What `subscribe()` returns: `unsubscribe()` ends it (also `with ... as sub:`).

    `topic` is `posts`, `posts/<id>` or `channel:<name>`; `active` is False once it
    ended (unsubscribed, refused after a reconnect, `close()`); `token` (a property) is
    where it is in the change log.
    """

    def __init__(
        self,
        owner: Realtime | Channel,
        topic: str,
        callback: Callable[[Any], object] | None,
        on_error: ErrorCallback | None,
        token: str | None = None,
    ) -> None:
        self.topic = topic
        self.active = True
        self._owner = owner
        self._callback = callback
        self._on_error = on_error
        self._token = token
        self._wire: _Wire | None = None

    @property
    def token(self) -> str | None:
        """The change token of the last event passed to the callback (or of the
        server's acknowledgement); None before it and for a channel. Store it to resume
        later: `subscribe(topic, callback, since=token)`."""
        return self._token

    def unsubscribe(self) -> None:
        """End the subscription (no more callbacks; calling it again does nothing)."""
        if self.active:
            self.active = False
            self._owner._release(self)

    def __enter__(self) -> Subscription:  # noqa: PYI034  (typing.Self is 3.11+)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        return f"Subscription(topic={self.topic!r}, active={self.active!r})"

    # --- from the realtime thread: queue work for the callbacks' thread ----------------

    def _acked(self, rt: Realtime, wire: _Wire) -> None:
        token = wire.token
        if not wire.answered:
            # The first answer: no event of it can be queued yet, so `token` is right
            # when `subscribe()` returns.
            self._advance(token)
        else:  # after its events queued before it
            rt._dispatch(lambda: self._advance(token))

    def _advance(self, token: str | None) -> None:
        if self.active and token is not None:
            self._token = token

    def _frame(self, rt: Realtime, frame: dict[str, Any]) -> None:
        event = {
            "action": frame.get("action"),
            "record": frame.get("record"),
            "token": frame.get("token"),
        }

        def deliver() -> None:
            if not self.active:
                return
            if isinstance(event["token"], str):
                self._token = event["token"]
            if self._callback is not None:
                self._callback(event)

        rt._dispatch(deliver)

    def _refused(self, rt: Realtime, error: BaasError, ended: bool) -> None:
        if ended:
            self.active = False
        rt._report(self._on_error, error)


class Channel:
    """`client.realtime.channel("room-42")`: messages between clients and, when the
    channel tracks it, presence (the signed-in users subscribed to it).

    The channel is subscribed on the connection while it has a listener (`subscribe()`
    or `on_presence()`), once however many there are.
    """

    def __init__(self, realtime: Realtime, name: str) -> None:
        self.name = name
        self.topic = _CHANNEL + name
        self._rt = realtime
        self._listeners: list[Subscription] = []
        self._presence: list[PresenceCallback] = []
        self._members: list[str] = []
        self._wire: _Wire | None = None

    @property
    def members(self) -> list[str]:
        """The user ids present on the channel (presence channels; you included when
        signed in), as of the last acknowledgement and the joins and leaves received
        since (the callbacks may not have run yet); empty when not subscribed."""
        with self._rt._lock:
            return list(self._members)

    def subscribe(
        self,
        on_message: MessageCallback | None = None,
        *,
        on_error: ErrorCallback | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Receive the messages other clients publish here:
        `on_message({"topic", "data", "from"})`.

        Waits for the server's answer (up to `timeout`, default the client's) and
        raises `BaasError` when the channel is refused (404 `channel_not_found`, 403)
        or no connection could be made in time (status 0). A refusal after a reconnect
        goes to `on_error` (or `client.realtime.on_error`) and ends the channel's
        listeners."""
        _check_callback("subscribe", on_message)
        sub = Subscription(self, self.topic, on_message, on_error)
        with self._rt._lock:
            self._listeners.append(sub)
            wire = self._ensure_wire()
        self._await(wire, sub, timeout)
        return sub

    def publish(self, data: Any, *, timeout: float | None = None) -> None:
        """Send `data` (any JSON value) to the channel's other subscribers and wait for
        the server's `published` (up to `timeout`). Raises `BaasError`: the server's
        refusal (403, 404 `channel_not_found`), or status 0 `network_error` when the
        connection dropped before the answer (it may or may not have been delivered; it
        is not sent again). Needs no subscription."""
        self._rt._publish(self.topic, data, timeout)

    def on_presence(
        self, callback: PresenceCallback, *, timeout: float | None = None
    ) -> Callable[[], None]:
        """Follow presence: `callback({"action", "user", "members"})` for each `join`
        and `leave`, and `sync` (user None) with the whole list whenever the
        subscription is (re)acknowledged. Subscribes the channel too (raising its
        refusal like `subscribe()`); returns a function that stops the callback."""
        _check_callback("on_presence", callback)
        if callback is None:
            raise TypeError("on_presence: pass a function.")
        marker = Subscription(self, self.topic, None, None)
        with self._rt._lock:
            self._presence.append(callback)
            self._listeners.append(marker)
            wire = self._ensure_wire()
        try:
            self._await(wire, marker, timeout)
        except BaseException:
            self._drop_presence(callback)
            raise

        def stop() -> None:
            self._drop_presence(callback)
            marker.unsubscribe()

        return stop

    def __repr__(self) -> str:
        return f"Channel(name={self.name!r})"

    # --- internals ------------------------------------------------------------------------

    def _ensure_wire(self) -> _Wire:
        rt = self._rt
        if self._wire is None or not self._wire.active:
            self._wire = _Wire(rt._new_id(), self.topic, self)
            rt._wires[self._wire.id] = self._wire
            rt._channels.setdefault(self.name, self)
        return self._wire

    def _await(self, wire: _Wire, sub: Subscription, timeout: float | None) -> None:
        try:
            self._rt._await_answer(wire, timeout)
        except BaseException:
            sub.active = False
            self._release(sub)
            raise

    def _drop_presence(self, callback: PresenceCallback) -> None:
        with self._rt._lock:
            if callback in self._presence:
                self._presence.remove(callback)

    def _release(self, sub: Subscription) -> None:
        wire = None
        with self._rt._lock:
            if sub in self._listeners:
                self._listeners.remove(sub)
            if not self._listeners and self._wire is not None:
                wire, self._wire = self._wire, None
                self._members = []
        if wire is not None:
            self._rt._remove_wire(wire)

    def _reset(self) -> None:
        for sub in self._listeners:
            sub.active = False
        self._listeners.clear()
        self._presence.clear()
        self._members = []
        self._wire = None

    # --- from the realtime thread --------------------------------------------------------

    def _acked(self, rt: Realtime, frame: dict[str, Any]) -> None:
        members = frame.get("members")
        if isinstance(members, list):
            self._change(rt, "sync", None, [str(m) for m in members])

    def _message(self, rt: Realtime, frame: dict[str, Any]) -> None:
        message = {
            "topic": frame.get("topic"),
            "data": frame.get("data"),
            "from": frame.get("from"),
        }

        def deliver() -> None:
            for sub in list(self._listeners):
                if sub.active and sub._callback is not None:
                    try:
                        sub._callback(message)
                    except Exception:
                        log.exception("client.realtime: a callback raised")

        rt._dispatch(deliver)

    def _presence_frame(self, rt: Realtime, frame: dict[str, Any]) -> None:
        user, action = frame.get("user"), frame.get("action")
        if user is not None and action in ("join", "leave"):
            self._change(rt, action, str(user), None)

    def _change(
        self, rt: Realtime, action: str, user: str | None, members: list[str] | None
    ) -> None:
        """Update `members` now (realtime thread) and queue the presence callbacks with
        the list as it is after this change."""
        with rt._lock:
            if members is not None:
                self._members = members
            elif action == "join" and user not in self._members:
                self._members.append(str(user))
            elif action == "leave" and user in self._members:
                self._members.remove(str(user))
            change = {"action": action, "user": user, "members": list(self._members)}

        def deliver() -> None:
            for callback in list(self._presence):
                if self._wire is None:
                    return  # unsubscribed meanwhile
                try:
                    callback(change)  # type: ignore[arg-type]
                except Exception:
                    log.exception("client.realtime: a callback raised")

        rt._dispatch(deliver)

    def _refused(self, rt: Realtime, error: BaasError, ended: bool) -> None:
        """Refused after a reconnect: every listener ends; their `on_error` are told."""
        with rt._lock:
            handlers = [s._on_error for s in self._listeners if s._on_error]
            self._reset()
        if not handlers:
            rt._report(None, error)
        for handler in handlers:
            rt._report(handler, error)


class Realtime:
    """`client.realtime`: one WebSocket for every subscription and channel of the client,
    opened on the first subscription or publish.

    - It signs in with the client's credential (the access token, else the API key) and
      follows the tokens: a login or refresh is sent on the open connection (`auth`
      frame, between two events); a logout or cleared tokens reconnect anonymously
      (there is no sign-out frame): subscriptions an anonymous caller may not see are
      refused then (their `on_error`) and end.
    - `refresh_before` seconds before the access token expires (half way, for a token
      with less than twice that left) it is refreshed with the client's refresh logic
      and sent again.
    - Close 4001 (token refused or expired): refresh, reconnect, sign in again; without
      a usable refresh token `on_error` gets 401 `invalid_token` and the connection
      waits (state `idle`) until the tokens change.
    - Close 4003 (the session ended: logout elsewhere, password change, deactivation):
      as a REST call's `session_ended`, the client's tokens are cleared, `on_error` gets
      410 `session_ended` (show the login screen), and the connection goes on
      anonymously. (A `logout()` on this client reports nothing.)
    - A lost connection is reopened with backoff (`reconnect_min` 0.5 s doubling up to
      `reconnect_max` 30 s, each delay randomly between half and all of it; from the
      start again once a subscription or publish is answered), at once after 1001
      (going away) or 4008 (slow consumer). Every subscription is made again; record
      subscriptions resume from their last change token, so each event arrives once, in
      order. A token older than the server's change log (410 `resync_required`) goes to
      the subscription's `on_error`, and it goes on from now without it: reload the
      collection (`collection.sync(None, ...)`).
    - A ping goes out every `ping_interval` (25) seconds; when nothing arrives within
      `ping_timeout` (10) seconds after it, the connection is dropped and reopened.
    - Callbacks run on one thread of their own, in order (the module docs).

    The tunables are attributes, read when used: `reconnect_min`, `reconnect_max`,
    `ping_interval`, `ping_timeout`, `refresh_before` (seconds).
    """

    reconnect_min = 0.5
    reconnect_max = 30.0
    ping_interval = 25.0
    ping_timeout = 10.0
    refresh_before = 60.0

    def __init__(self, client: Client) -> None:
        self._client = client
        #: The WebSocket URL, e.g. `wss://api.example.com/api/v1/realtime`.
        self.url = realtime_url(client.base_url)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wires: dict[str, _Wire] = {}
        self._channels: dict[str, Channel] = {}
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._run: _Run | None = None
        self._ws: Any = None
        self._gen = 0
        self._pacer = _Pacer()
        self._sent_token: str | None = None  # the credential the connection uses
        self._refresh_at: float | None = None  # monotonic
        self._signing_out = False  # `auth.logout()` is under way
        self._state: str = "idle"
        self._state_callbacks: list[StateCallback] = []
        self._error_callbacks: list[ErrorCallback] = []
        self._dispatcher = _Dispatcher()
        # Tests put a fake here: (url, **options) -> a websockets-like connection.
        self._socket_factory: Callable[..., Any] | None = None
        client.auth._listeners.append(self._tokens_changed)
        client.auth._logout_listeners.append(self._logout_started)

    # --- public API -----------------------------------------------------------------------

    @property
    def state(self) -> str:
        """`"idle"` (no connection: nothing subscribed, after `close()`, or stopped by a
        refused credential until the tokens change), `"connecting"`, `"open"`, or
        `"reconnecting"` (the connection was lost; trying again with backoff)."""
        return self._state

    def on_state_change(self, callback: StateCallback) -> Callable[[], None]:
        """Follow the connection state: `callback(state)` on each change (callbacks'
        thread). Returns a function that stops the callback."""
        _check_callback("on_state_change", callback)
        return self._add(self._state_callbacks, callback)

    def on_error(self, callback: ErrorCallback) -> Callable[[], None]:
        """Errors of the connection rather than of one subscription: the session ended
        (410 `session_ended`, tokens cleared: show the login screen), the credential was
        refused and could not be refreshed (401 `invalid_token`), a frame too big (413
        `too_large`), and subscription errors that have no `on_error` of their own.
        Without any callback they are logged. Returns a function that stops it."""
        _check_callback("on_error", callback)
        return self._add(self._error_callbacks, callback)

    def subscribe(
        self,
        topic: str,
        callback: EventCallback,
        *,
        filter: str | None = None,
        since: str | None = None,
        on_error: ErrorCallback | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to a collection (`"posts"`), one record (`"posts/<id>"`) or a
        channel (`"channel:<name>"`, the same as `channel(name).subscribe(callback)`).

        `callback({"action", "record", "token"})` gets each create, update and delete
        you may see (a delete's record is `{"id"}`), in change-log order; for a channel,
        `callback({"topic", "data", "from"})` gets each message.

        - `filter`: only records matching this expression (the list filter language).
        - `since`: a change token (an earlier `subscription.token` or delta sync's
          `next`): the changes after it come first, then live ones.
        - `on_error(error)`: after a reconnect, the subscription was refused (it ends)
          or `since` was too old (410 `resync_required`: it goes on from now; reload
          the collection). Without it, such errors go to `client.realtime.on_error`.

        Waits for the server's answer (up to `timeout`, default the client's) and
        raises `BaasError` when refused (400 `invalid_filter`, 401/403, 404
        `collection_not_found`, 410 `resync_required` for too old a `since`) or when no
        connection could be made in time (status 0 `network_error`).
        """
        if not isinstance(topic, str) or not topic:
            raise TypeError(
                'subscribe: pass a topic: "posts", "posts/<id>" or "channel:<name>".'
            )
        if callback is None or not callable(callback):
            raise TypeError("subscribe: pass a callback.")
        if topic.startswith(_CHANNEL):
            return self.channel(topic[len(_CHANNEL) :]).subscribe(
                callback,  # type: ignore[arg-type]
                on_error=on_error,
                timeout=timeout,
            )
        sub = Subscription(self, topic, callback, on_error, token=since)
        with self._lock:
            wire = _Wire(self._new_id(), topic, sub, filter=filter, since=since)
            sub._wire = wire
            self._wires[wire.id] = wire
        try:
            self._await_answer(wire, timeout)
        except BaseException:
            sub.active = False
            self._remove_wire(wire)
            raise
        return sub

    def channel(self, name: str) -> Channel:
        """The channel `name` (the same object for the same name): `subscribe(on_message)`,
        `publish(data)`, `members`, `on_presence(callback)`."""
        if not isinstance(name, str) or not name:
            raise TypeError("channel: pass a name.")
        with self._lock:
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = Channel(self, name)
            return channel

    def close(self) -> None:
        """Close the connection and end every subscription and channel listener;
        publishes waiting for their answer raise `realtime_closed`. Subscribing again
        opens a new connection. Waits for the realtime thread to finish."""
        closed = _failure("realtime_closed", "client.realtime.close() was called.")
        with self._lock:
            run, self._run = self._run, None
            if run is not None:
                run.stopping = True
                run.wake.set()
            for wire in self._wires.values():
                wire.active = False
                if isinstance(wire.owner, Subscription):
                    wire.owner.active = False
            self._wires.clear()
            for channel in self._channels.values():
                channel._reset()
            for pending in self._pending.values():
                if not pending.done:
                    pending.done, pending.error = True, closed
            ws, self._ws = self._ws, None
            self._changed.notify_all()
        if ws is not None:
            _close_quietly(ws)
        if run is not None and run.thread is not threading.current_thread():
            run.thread.join(self._client.timeout + 5)  # type: ignore[union-attr]
        self._set_state(None, "idle")
        self._dispatcher.stop()

    # --- for subscriptions and channels --------------------------------------------------

    def _new_id(self, prefix: str = "s") -> str:
        return f"{prefix}{next(self._ids)}"

    def _add(self, callbacks: list, callback: Callable) -> Callable[[], None]:
        with self._lock:
            callbacks.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in callbacks:
                    callbacks.remove(callback)

        return stop

    def _dispatch(self, fn: Callable[[], object]) -> None:
        self._dispatcher.put(fn)

    def _report(self, handler: ErrorCallback | None, error: BaasError) -> None:
        """`error` to `handler`, or else to the `on_error` callbacks, or else the log."""
        handlers = [handler] if handler else list(self._error_callbacks)
        if not handlers:
            log.warning("client.realtime: %s", error)
        for each in handlers:
            self._dispatch(lambda each=each: each(error))

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self._client.timeout if timeout is None else timeout)

    def _await_answer(self, wire: _Wire, timeout: float | None) -> None:
        """Subscribe `wire` (now, or as soon as connected) and wait for its answer."""
        deadline = self._deadline(timeout)
        run = self._ensure_running()
        self._send_subscribe(wire)
        if run.thread is threading.current_thread():
            return  # (an `on_tokens` callback on the refreshing realtime thread)
        self._wait(lambda: wire.answered, deadline, run)
        if wire.error is not None:
            raise wire.error

    def _wait(self, ready: Callable[[], bool], deadline: float, run: _Run) -> None:
        with self._changed:
            while not ready():
                if run.done or self._run is not run:
                    raise _failure(
                        "realtime_closed", "client.realtime.close() was called."
                    )
                if run.paused == "idle" and run.pause_error is not None:
                    raise run.pause_error  # waiting for other tokens
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _failure(
                        "network_error", "No answer from the realtime server in time."
                    )
                self._changed.wait(remaining)

    def _release(self, sub: Subscription) -> None:
        if sub._wire is not None:
            self._remove_wire(sub._wire)

    def _remove_wire(self, wire: _Wire) -> None:
        with self._lock:
            wire.active = False
            if self._wires.get(wire.id) is wire:
                del self._wires[wire.id]
                if wire.sent_gen == self._gen and self._ws is not None:
                    self._send_locked({"type": "unsubscribe", "id": wire.id})
            self._idle_check()

    def _idle_check(self) -> None:
        """Nothing wanted any more: a run that waits (to retry, or for tokens) ends."""
        if not self._wanted() and self._run is not None and self._ws is None:
            self._run.wake.set()

    def _publish(self, topic: str, data: Any, timeout: float | None) -> None:
        pid = self._new_id("p")
        text = _dumps({"type": "publish", "id": pid, "topic": topic, "data": data})
        deadline = self._deadline(timeout)
        pending = _Pending()
        with self._lock:
            self._pending[pid] = pending
        try:
            run = self._ensure_running()
            on_realtime_thread = run.thread is threading.current_thread()
            while True:
                if not on_realtime_thread:
                    self._wait(lambda: run.connected or pending.done, deadline, run)
                with self._lock:
                    if pending.done:
                        break
                    if self._send_text_locked(text):
                        pending.sent_gen = self._gen
                        break
                if on_realtime_thread:
                    raise _failure("network_error", "The realtime connection is down.")
                # It did not go out: wait for the next connection.
                self._wait(lambda: not run.connected or pending.done, deadline, run)
            if not on_realtime_thread:
                self._wait(lambda: pending.done, deadline, run)
        finally:
            with self._lock:
                self._pending.pop(pid, None)
                self._idle_check()
        if pending.error is not None:
            raise pending.error

    # --- sending ------------------------------------------------------------------------

    def _send_locked(self, frame: dict[str, Any]) -> bool:
        return self._send_text_locked(_dumps(frame))

    def _send_text_locked(self, text: str) -> bool:
        """Send on the open connection (the caller holds the lock); False when there is
        none or it just closed (what must be sent again is, after the reconnect)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            self._pacer.wait()
            ws.send(text)
        except Exception:  # ConnectionClosed, OSError: the reading side sees it too
            log.debug("client.realtime: send failed", exc_info=True)
            return False
        return True

    def _send_subscribe(self, wire: _Wire) -> None:
        with self._lock:
            if self._ws is None or not wire.active or wire.sent_gen == self._gen:
                return
            frame: dict[str, Any] = {"type": "subscribe", "id": wire.id}
            frame["topic"] = wire.topic
            if wire.filter:
                frame["filter"] = wire.filter
            wire.resumed = wire.token is not None and not wire.channel
            if wire.resumed:
                frame["since"] = wire.token
            wire.ack_token = None
            if self._send_locked(frame):
                wire.sent_gen = self._gen

    def _bearer(self) -> str | None:
        return self._client.auth.access_token or self._client.api_key

    def _tokens_changed(self, access: str | None, refresh: str | None) -> None:
        """The client's tokens changed (login, refresh, logout), on any thread, maybe
        under the auth lock: so this never waits for the realtime thread."""
        ws = None
        with self._lock:
            if access is None:
                self._signing_out = False  # (logout() refreshes first, maybe)
            run = self._run
            if run is None or run.stopping:
                return
            bearer = access or self._client.api_key
            if run.paused or self._ws is None:
                # Stopped, waiting to retry, or connecting: (re)connect now with them.
                run.paused, run.pause_error = None, None
                run.reconnect_now = True
                run.wake.set()
                return
            if bearer == self._sent_token:
                return
            if bearer is not None:
                # The same connection, a new identity between two events.
                if self._send_locked({"type": "auth", "token": bearer}):
                    self._sent_token = bearer
                    self._refresh_at = None
                return
            # Signed out (there is no "sign out" frame): reconnect anonymously.
            run.reconnect_now = True
            ws, self._ws = self._ws, None
            run.connected = False
        if ws is not None:  # (a close handshake takes a moment: not under the lock)
            threading.Thread(target=_close_quietly, args=(ws,), daemon=True).start()

    def _logout_started(self) -> None:
        """`auth.logout()` begins: the server's 4003 for it is no news to the app."""
        with self._lock:
            self._signing_out = True

    # --- the realtime thread --------------------------------------------------------------

    def _ensure_running(self) -> _Run:
        with self._lock:
            run = self._run
            if run is not None and not run.stopping:
                return run
            run = self._run = _Run()
            run.thread = threading.Thread(
                target=self._main, args=(run,), name="baas-realtime", daemon=True
            )
            run.thread.start()
            return run

    def _wanted(self) -> bool:
        return bool(self._wires) or bool(self._pending)

    def _set_state(self, run: _Run | None, state: str) -> None:
        with self._lock:
            if run is not None and self._run is not run:
                return
            if state == self._state:
                return
            self._state = state
            callbacks = list(self._state_callbacks)
            self._changed.notify_all()
        for callback in callbacks:
            self._dispatch(lambda cb=callback: cb(state))

    def _backoff(self, run: _Run, immediate: bool = False) -> float:
        """The wait before the next attempt: none once after 1001/4008 (and a refreshed
        token), else 0.5 s doubling up to 30 s (by default), randomly between half and
        all of it."""
        base = min(self.reconnect_max, self.reconnect_min * 2 ** min(run.attempts, 30))
        delay = (
            0.0
            if immediate and run.attempts == 0
            else base / 2 + random.random() * base / 2
        )
        run.attempts += 1
        return delay

    def _main(self, run: _Run) -> None:
        delay = 0.0
        try:
            while True:
                with self._lock:
                    if run.stopping or not self._wanted():
                        # (under the lock a new subscription takes: it starts a new run)
                        run.stopping = True
                        break
                if run.paused == "idle":
                    self._set_state(run, "idle")
                elif delay > 0 or run.paused:
                    self._set_state(
                        run, "reconnecting" if run.ever_open else "connecting"
                    )
                deadline = time.monotonic() + delay
                while not run.stopping and not run.reconnect_now and self._wanted():
                    left = deadline - time.monotonic()
                    if not run.paused and left <= 0:
                        break
                    run.wake.wait(None if run.paused else left)
                    run.wake.clear()
                if run.stopping or not self._wanted():
                    continue  # (ends above, under the lock)
                run.reconnect_now = False
                delay = self._connection(run)
        except Exception:  # a bug here must not leave anyone waiting
            log.exception("client.realtime: the realtime thread failed")
        finally:
            ws = None
            with self._lock:
                run.stopping = run.done = True
                run.connected = False
                if self._run is run:
                    self._run = None
                    ws, self._ws = self._ws, None
                self._changed.notify_all()
                idle = self._run is None
            if ws is not None:
                _close_quietly(ws)
            if idle:
                self._set_state(None, "idle")
                self._dispatcher.stop()

    def _connection(self, run: _Run) -> float:
        """One connection, from opening to closing; returns the delay before the next."""
        self._set_state(run, "reconnecting" if run.ever_open else "connecting")
        auth = self._client.auth
        if auth.access_token and auth.refresh_token:
            try:
                auth._live_access_token()  # refresh one that (nearly) expired first
            except BaasError:
                pass  # connect with what there is; a refused token is handled (4001)
        try:
            ws = self._open()
        except Exception as exc:
            log.debug("client.realtime: cannot connect: %s", exc)
            return self._backoff(run)
        with ws:  # (websockets 17 wants its connections used as context managers)
            return self._use(run, ws)

    def _use(self, run: _Run, ws: Any) -> float:
        """Sign in, subscribe, read until the connection closes; the next delay."""
        with self._lock:
            if run.stopping or self._run is not run:
                _close_quietly(ws)
                return 0.0
            self._pacer = _Pacer()
            self._refresh_at = None
            bearer = self._bearer()
            self._ws, self._gen = ws, self._gen + 1
            gen = self._gen
            if bearer is not None and not self._send_locked(
                {"type": "auth", "token": bearer}
            ):
                self._ws = None
                _close_quietly(ws)
                return self._backoff(run)
            self._sent_token = bearer
            run.connected = True
            run.reconnect_now = False  # the credential is read: any change is in
            wires = list(self._wires.values())
            self._changed.notify_all()
        if bearer is None:
            self._opened(run)
        for wire in wires:  # (pipelined after `auth`: the server takes frames in order)
            self._send_subscribe(wire)
        outcome = self._read(run, ws)
        lost = _failure(
            "network_error", "The realtime connection was lost before the answer."
        )
        with self._lock:
            if self._ws is ws:
                self._ws = None
                run.connected = False
            for pending in self._pending.values():
                if pending.sent_gen == gen and not pending.done:
                    pending.done, pending.error = True, lost
            self._changed.notify_all()
        _close_quietly(ws)
        if run.stopping or run.reconnect_now:
            return 0.0
        if outcome is _LOST:
            return self._backoff(run)
        code = outcome
        if code == AUTH_EXPIRED:
            return self._recover_auth(run)
        if code == SESSION_ENDED:
            return self._session_ended(run)
        if code == TOO_BIG:
            self._report(
                None,
                _failure("too_large", "A frame was over the server's size limit.", 413),
            )
        return self._backoff(run, immediate=code in (GOING_AWAY, SLOW_CONSUMER))

    def _opened(self, run: _Run) -> None:
        run.ever_open = True
        self._set_state(run, "open")

    def _open(self) -> Any:
        options: dict[str, Any] = {
            "open_timeout": self.ping_timeout,
            "close_timeout": 2.0,
            # The JSON ping of docs/realtime.md instead (websockets >= 15 has the option).
            "ping_interval": None,
            "max_size": _MAX_FRAME_IN,
        }
        if self._socket_factory is not None:
            return self._socket_factory(self.url, **options)
        from websockets.sync.client import connect

        if self.url.startswith("wss://"):
            context = _ssl_context(getattr(self._client.session, "verify", True))
            if context is not None:
                options["ssl"] = context
        return connect(self.url, **options)

    def _recover_auth(self, run: _Run) -> float:
        """Close 4001: refresh the token (the REST calls' logic) and reconnect; without
        a usable refresh token, report it and wait for new tokens."""
        used = self._sent_token
        auth = self._client.auth
        refused = _failure(
            "invalid_token",
            "The realtime connection's credential was refused; sign in again.",
            401,
        )
        if self._bearer() != used:
            return self._backoff(run, immediate=True)  # the tokens changed meanwhile
        if used is None or used == self._client.api_key or not auth.refresh_token:
            return self._pause(run, refused)
        try:
            # False when the server refused the refresh token: the tokens are cleared
            # then, and the connection goes on anonymously.
            recovered = auth._recover_from_401(used)
        except BaasError:
            return self._backoff(run)
        if not recovered:
            self._report(None, refused)
        return self._backoff(run, immediate=True)

    def _session_ended(self, run: _Run) -> float:
        """Close 4003: like REST's 410 `session_ended`: forget the tokens (the
        connection goes on anonymously) and tell the app."""
        used = self._sent_token
        auth = self._client.auth
        ended = _failure(
            "session_ended", "This device session has ended; sign in again.", 410
        )
        if self._signing_out:
            run.paused = "hold"  # until logout() clears the tokens
            return 0.0
        if used is not None and used == auth.access_token:
            auth.clear()
            self._report(None, ended)
            return self._backoff(run, immediate=True)
        if self._bearer() != used:
            return self._backoff(run, immediate=True)
        return self._pause(run, ended)

    def _pause(self, run: _Run, error: BaasError) -> float:
        """Wait until the tokens change: the same credential would be refused again."""
        with self._lock:
            run.paused, run.pause_error = "idle", error
            self._changed.notify_all()
        self._set_state(run, "idle")
        self._report(None, error)
        return 0.0

    def _read(self, run: _Run, ws: Any) -> object:
        """Handle frames until the connection closes: the close code (None without
        one), or `_LOST` when it went silent."""
        closed = _closed_exceptions()
        pings = pongs = 0
        now = time.monotonic()
        next_ping = now + self.ping_interval
        ping_sent: float | None = None
        last_received = now
        advance_ping: float | None = None  # soon: a ping that advances ack tokens
        while not run.stopping:
            deadlines = [next_ping]
            if ping_sent is not None:
                deadlines.append(ping_sent + self.ping_timeout)
            if self._refresh_at is not None:
                deadlines.append(self._refresh_at)
            if advance_ping is not None:
                deadlines.append(advance_ping)
            try:
                raw = ws.recv(timeout=max(0.0, min(deadlines) - time.monotonic()))
            except TimeoutError:
                raw = None
            except closed as exc:
                rcvd = getattr(exc, "rcvd", None)
                return rcvd.code if rcvd is not None else None
            except Exception:  # the socket failed under us
                log.debug("client.realtime: recv failed", exc_info=True)
                return None
            now = time.monotonic()
            if raw is not None:
                last_received = now
                frame = self._decode(raw)
                kind = frame.get("type") if frame else None
                if kind == "pong":
                    pongs += 1
                    self._advance(pongs)
                elif kind == "subscribed":
                    if self._subscribed(run, frame, pings + 1):  # type: ignore[arg-type]
                        advance_ping = advance_ping or now + 0.05
                elif frame is not None:
                    self._handle(run, frame)
            if ping_sent is not None and last_received >= ping_sent:
                ping_sent = None
            if ping_sent is not None and now >= ping_sent + self.ping_timeout:
                return _LOST
            if now >= next_ping or (advance_ping is not None and now >= advance_ping):
                with self._lock:
                    if self._ws is ws and self._send_locked({"type": "ping"}):
                        pings += 1
                if now >= next_ping:
                    ping_sent = ping_sent or now
                    next_ping = now + self.ping_interval
                advance_ping = None
            if self._refresh_at is not None and now >= self._refresh_at:
                self._refresh_at = None
                self._refresh(run)
        return None

    def _refresh(self, run: _Run) -> None:
        """Refresh the access token before it expires; `_tokens_changed` sends it. If
        this fails, the server closes with 4001 at expiry and that is recovered from."""
        used = self._sent_token
        auth = self._client.auth
        if not used or used != auth.access_token or not auth.refresh_token:
            return
        try:
            auth._recover_from_401(used)
        except BaasError:
            log.debug("client.realtime: refreshing the token failed", exc_info=True)

    @staticmethod
    def _decode(raw: str | bytes) -> dict[str, Any] | None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("client.realtime: a frame is not JSON: %r", raw[:200])
            return None
        return frame if isinstance(frame, dict) else None

    def _handle(self, run: _Run, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            wire = self._wires.get(str(frame.get("sub")))
            if wire is not None and wire.active and not wire.channel:
                if isinstance(frame.get("token"), str):
                    wire.token, wire.ack_token = frame["token"], None
                wire.owner._frame(self, frame)  # type: ignore[union-attr]
        elif kind in ("message", "presence"):
            topic = frame.get("topic")
            if not isinstance(topic, str) or not topic.startswith(_CHANNEL):
                return
            channel = self._channels.get(topic[len(_CHANNEL) :])
            if channel is None or channel._wire is None:
                return
            if kind == "message":
                channel._message(self, frame)
            else:
                channel._presence_frame(self, frame)
        elif kind == "published":
            with self._lock:
                pending = self._pending.get(str(frame.get("id")))
                if pending is not None and not pending.done:
                    run.attempts = 0  # it works: the next loss backs off from the start
                    pending.done = True
                    self._changed.notify_all()
        elif kind == "error":
            self._error_frame(frame)
        elif kind == "authenticated":
            self._authenticated(frame)
            if not run.ever_open or self._state != "open":
                self._opened(run)
        # "unsubscribed": nothing to do

    def _authenticated(self, frame: dict[str, Any]) -> None:
        """Schedule the refresh a little before the access token expires."""
        self._refresh_at = None
        expires = frame.get("expires")
        auth = self._client.auth
        if (
            not isinstance(expires, (int, float))
            or not auth.refresh_token
            or self._sent_token != auth.access_token
        ):
            return
        left = expires - time.time()
        delay = max(0.0, left - self.refresh_before, left / 2)
        self._refresh_at = time.monotonic() + delay

    def _subscribed(self, run: _Run, frame: dict[str, Any], next_pong: int) -> bool:
        """An acknowledgement; True when a ping should prove a replay complete."""
        with self._lock:
            wire = self._wires.get(str(frame.get("id")))
            if wire is None or not wire.active:
                return False
            run.attempts = 0  # the connection works: the next loss backs off afresh
            ping = False
            token = frame.get("token")
            if wire.channel:
                wire.owner._acked(self, frame)  # type: ignore[call-arg]
            elif isinstance(token, str):
                if not wire.resumed:
                    wire.token = token
                    wire.owner._acked(self, wire)  # type: ignore[arg-type]
                else:
                    # The missed changes follow this answer: its token becomes the
                    # resume point once a pong shows they all arrived.
                    wire.ack_token, wire.advance_at = token, next_pong
                    ping = True
            wire.answered = True
            self._changed.notify_all()
            return ping

    def _advance(self, pongs: int) -> None:
        with self._lock:
            for wire in self._wires.values():
                if wire.ack_token is not None and pongs >= wire.advance_at:
                    wire.token, wire.ack_token = wire.ack_token, None
                    wire.owner._acked(self, wire)  # type: ignore[arg-type]

    def _error_frame(self, frame: dict[str, Any]) -> None:
        error = _frame_error(frame)
        request_id = frame.get("id")
        with self._lock:
            wire = self._wires.get(str(request_id)) if request_id is not None else None
            pending = self._pending.get(str(request_id)) if request_id else None
            if wire is not None:
                if not wire.answered:  # the first answer: `subscribe()` raises it
                    wire.error, wire.answered, wire.active = error, True, False
                    del self._wires[wire.id]
                elif error.code == "resync_required" and wire.resumed:
                    # Too old to resume: tell the app (reload the data), go on from now.
                    wire.token, wire.sent_gen = None, 0
                    wire.owner._refused(self, error, False)
                    self._send_subscribe(wire)
                else:  # refused after a reconnect: it ends
                    wire.active = False
                    del self._wires[wire.id]
                    wire.owner._refused(self, error, True)
                self._changed.notify_all()
                return
            if pending is not None:
                if not pending.done:
                    pending.done, pending.error = True, error
                    self._changed.notify_all()
                return
        if request_id is not None:
            return  # the answer to a subscription ended meanwhile
        if error.status in (401, 429):
            return  # a refused token, too many connections: a close code follows
        self._report(None, error)


def realtime_url(api_root: str) -> str:
    """`http(s)://host/api/v1` → `ws(s)://host/api/v1/realtime`."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if api_root.lower().startswith(http):
            return ws + api_root[len(http) :] + "/realtime"
    return api_root + "/realtime"


def _close_quietly(ws: Any) -> None:
    try:
        ws.close()
    except Exception:
        log.debug("client.realtime: close failed", exc_info=True)


def _closed_exceptions() -> tuple[type[BaseException], ...]:
    try:
        from websockets.exceptions import ConnectionClosed
    except ImportError:  # (a fake socket in tests, without websockets)
        return (EOFError,)
    return (ConnectionClosed, EOFError)


def _ssl_context(verify: Any) -> ssl.SSLContext | None:
    """The TLS settings of the client's `requests` session, for `wss://`: a CA bundle
    (`session.verify = "ca.pem"` or a directory) or no verification (`False`)."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return None
