"""Server-side code for app teams: hooks around record writes, HTTP routes, jobs, cron.

Put a module in `<data dir>/hooks/` (or name it in `BAAS_HOOKS`); every web, realtime and
worker process imports it at start-up::

    from baas.hooks import Reject, after, before, cron, route, task

    @before("create", "posts")
    def check_title(event):
        if "spam" in event.data.get("title", ""):
            raise Reject("spam", "No spam, please.", param="title")
        event.data["title"] = event.data["title"].strip()

    @after("create", "posts")
    def welcome(event):  # on a worker, after commit, retried until it succeeds
        ...

    @route("GET", "/hello/<str:name>", auth="public")
    def hello(request, name):
        return {"hello": name}

    @cron("0 3 * * *", name="nightly-cleanup")
    def nightly():
        ...

Data is reached through `baas.records` (the same service functions as the API, rules
applied for a given user or none for the superuser), never through models.
docs/hooks.md is the guide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.core.exceptions import ApiError
from apps.hooks import registry as _registry

__all__ = ["Auth", "Event", "Reject", "after", "before", "cron", "route", "task"]


class Reject(ApiError):
    """Raised by a hook or a route to refuse: the client gets the error envelope with
    this `code`, `message` and `param`, and `status` (400 unless given)."""

    def __init__(
        self, code: str, message: str, param: str | None = None, status: int = 400
    ) -> None:
        if not 400 <= int(status) <= 499:
            raise ValueError("Reject's status is a 4xx status code")
        super().__init__(message, code=code, param=param, status=int(status))


@dataclass(frozen=True)
class Auth:
    """Who made a request: a user (`kind` "user" or "superuser") or an API key ("key");
    `None` stands for an anonymous caller."""

    kind: str
    id: str | None = None
    email: str | None = None
    key_name: str | None = None
    scopes: tuple[str, ...] = ()

    @property
    def is_superuser(self) -> bool:
        return self.kind == "superuser"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "id": self.id,
            "email": self.email,
            "key_name": self.key_name,
            "scopes": list(self.scopes),
        }

    @classmethod
    def from_dict(cls, data: dict | None) -> Auth | None:
        if not data:
            return None
        return cls(
            kind=data["kind"],
            id=data.get("id"),
            email=data.get("email"),
            key_name=data.get("key_name"),
            scopes=tuple(data.get("scopes") or ()),
        )


@dataclass
class Event:
    """A record write, as hooks see it.

    `data`: in a `before` hook, the fields being written (a hook may change them; the
    result is validated like client input); in an `after` hook, the record as written
    (None for a delete). `old`: the record before the write (None for a create).
    `auth`: who wrote it (None: anonymous). `token`: the change token of the write (in
    `after` hooks; the key to make a retried hook idempotent).
    """

    collection: str
    action: str
    data: dict | None
    old: dict | None = None
    auth: Auth | None = None
    token: str | None = None
    record_id: str | None = field(default=None)


def _check_action(action: str) -> None:
    if action not in _registry.ACTIONS:
        raise ValueError(f"action must be one of {', '.join(_registry.ACTIONS)}")


def _check_collection(collection: str) -> None:
    if not isinstance(collection, str) or not collection:
        raise ValueError("collection must be a collection name or '*'")


def before(action: str, collection: str) -> Callable:
    """Run `func(event)` inside the write's transaction, before it is validated and
    stored; it may change `event.data` or raise `Reject`."""
    _check_action(action)
    _check_collection(collection)

    def register(func: Callable) -> Callable:
        _registry.registry.add_hook(
            _registry.Hook(
                "before", action, collection, func, _registry.qualified_name(func)
            )
        )
        return func

    return register


def after(action: str, collection: str) -> Callable:
    """Run `func(event)` on a worker once the write has committed: at least once,
    retried with backoff when it raises (see docs/hooks.md)."""
    _check_action(action)
    _check_collection(collection)

    def register(func: Callable) -> Callable:
        _registry.registry.add_hook(
            _registry.Hook(
                "after", action, collection, func, _registry.qualified_name(func)
            )
        )
        return func

    return register


def route(
    method: str,
    path: str,
    auth: str = "user",
    *,
    request: Any = None,
    response: Any = None,
    rate: str | None = None,
) -> Callable:
    """Serve `func(request, **path_params)` at `/api/v1/fn<path>`.

    `auth`: "public", "user" (any signed-in user), "superuser", or "key:<scope>" (an API
    key with that scope, or a superuser). It returns JSON-able data (None: 204) or a
    DRF Response. `request`/`response` optionally name a DRF serializer (the request
    body is then validated: `request.validated_data`) or a type (TypedDict, dataclass)
    for the OpenAPI document; without them the handler's return annotation is used.
    `rate`: a limit per client such as "30/m/ip" or "100/h/user" (429 beyond it)."""
    method = method.upper()
    if method not in _registry.ROUTE_METHODS:
        raise ValueError(f"method must be one of {', '.join(_registry.ROUTE_METHODS)}")
    if not _registry.ROUTE_PATH.fullmatch(path or ""):
        raise ValueError("path must start with '/' (e.g. '/orders/<str:id>')")
    if not _registry.ROUTE_AUTH.fullmatch(auth or ""):
        raise ValueError("auth must be public, user, superuser or key:<scope>")
    if rate is not None:
        _registry.check_rate(rate)

    def register(func: Callable) -> Callable:
        _registry.registry.add_route(
            _registry.Route(
                method,
                path,
                auth,
                func,
                _registry.qualified_name(func),
                request,
                response,
                rate,
            )
        )
        return func

    return register


def task(func: Callable | None = None, *, name: str | None = None, **options) -> Any:
    """Declare a background job: `func.delay(...)` runs it on a worker (a Celery task,
    acknowledged late and retried like every other). Also as `@task(name=...)`."""

    def register(func: Callable) -> Any:
        return _registry.registry.add_task(func, name=name, options=options)

    return register(func) if func is not None else register


def cron(expr: str, *, name: str | None = None) -> Callable:
    """Run `func()` on schedule (a five-field cron expression, UTC) through Celery beat."""

    def register(func: Callable) -> Any:
        return _registry.registry.add_cron(func, expr, name=name)

    return register
