"""What hooks modules registered in this process: before/after hooks, routes, tasks, cron.

Filled at start-up by the decorators of `baas.hooks` while apps.hooks.loader imports the
modules; read on every write (a dict lookup when nothing is registered for a collection).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

ACTIONS = ("create", "update", "delete")
ANY = "*"
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE_AUTH = re.compile(r"public|user|superuser|key:[a-z][a-z0-9_:.-]{0,63}")
ROUTE_PATH = re.compile(r"/[A-Za-z0-9_.~<>:/-]*")


@dataclass(frozen=True)
class Hook:
    kind: str  # "before" | "after"
    action: str
    collection: str  # a collection name, or "*"
    func: Callable
    name: str  # module.qualname: the stable key of an `after` hook's task


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # "/orders/<str:id>/cancel"
    auth: str
    func: Callable
    name: str
    request: object = None  # a DRF serializer class or a type (None: from hints)
    response: object = None
    rate: str | None = None  # "30/m/ip,1000/h/user": allauth's rate syntax


@dataclass(frozen=True)
class Cron:
    expr: str
    name: str
    task: str  # the Celery task name it runs


@dataclass
class Registry:
    hooks: dict[tuple[str, str, str], list[Hook]] = field(
        default_factory=lambda: defaultdict(list)
    )
    routes: list[Route] = field(default_factory=list)
    tasks: dict[str, Callable] = field(default_factory=dict)
    crons: list[Cron] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def add_hook(self, hook: Hook) -> None:
        self.hooks[(hook.kind, hook.action, hook.collection)].append(hook)

    def hooks_for(self, kind: str, action: str, collection: str) -> list[Hook]:
        """The hooks to run, those for the collection first, then those for any."""
        if not self.hooks:
            return []
        found = self.hooks.get((kind, action, collection), [])
        anywhere = self.hooks.get((kind, action, ANY), [])
        return found + anywhere if anywhere else found

    def add_route(self, route: Route) -> None:
        for other in self.routes:
            if (other.method, other.path) == (route.method, route.path):
                raise ValueError(
                    f"{route.method} {route.path} is already served by {other.name}"
                )
        self.routes.append(route)

    def add_task(self, func: Callable, *, name: str | None, options: dict):
        from celery import shared_task

        name = name or f"hooks.{qualified_name(func)}"
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is already registered")
        task = shared_task(name=name, **options)(func)
        self.tasks[name] = task
        return task

    def add_cron(self, func: Callable, expr: str, *, name: str | None):
        parse_cron(expr)
        name = name or qualified_name(func)
        if any(cron.name == name for cron in self.crons):
            raise ValueError(f"a cron job named {name!r} is already registered")
        task = self.add_task(func, name=f"hooks.cron.{name}", options={})
        self.crons.append(Cron(expr, name, task.name))  # beat: apps.hooks.schedules
        return task

    def routes_fingerprint(self) -> tuple:
        """Changes when the routes do (tests register some at run time)."""
        return tuple((r.method, r.path, r.name) for r in self.routes)

    def after_hook(self, name: str) -> Hook | None:
        for hooks in self.hooks.values():
            for hook in hooks:
                if hook.kind == "after" and hook.name == name:
                    return hook
        return None


registry = Registry()


@contextmanager
def isolated():
    """Tests: an empty registry for the duration, what was registered restored after."""
    saved = dict(vars(registry))
    vars(registry).update(vars(Registry()))
    try:
        yield registry
    finally:
        vars(registry).update(saved)


def parse_cron(expr: str):
    """A five-field cron expression ("*/5 * * * *") as Celery's crontab schedule."""
    from celery.schedules import crontab

    parts = expr.split() if isinstance(expr, str) else []
    if len(parts) != 5:
        raise ValueError(f"{expr!r} is not a five-field cron expression")
    minute, hour, day_of_month, month, day_of_week = parts
    for part, top in zip(parts, (59, 23, 31, 12, 7), strict=True):
        for step in re.findall(r"/(\d+)", part):
            if not 1 <= int(step) <= top:
                raise ValueError(f"{expr!r}: the step /{step} is out of range")
    try:
        return crontab(minute, hour, day_of_week, day_of_month, month)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None


def check_rate(rate: str) -> None:
    """A rate in allauth's syntax ("10/m/ip", "5/5m/user,100/d/ip"), or ValueError."""
    from allauth.core.internal.ratelimit import parse_rates

    try:
        rates = parse_rates(rate)
    except (ValueError, TypeError, AttributeError):
        rates = []
    if not rates or any(r.per not in ("ip", "user") for r in rates):
        raise ValueError(f"{rate!r} is not a rate such as '30/m/ip' or '100/h/user'")


def qualified_name(func: Callable) -> str:
    return f"{func.__module__}.{func.__qualname__}"
