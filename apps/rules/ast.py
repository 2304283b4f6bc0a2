"""The parsed form of an expression: small immutable nodes, free of any model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

COMPARISON_OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "!~")


@dataclass(frozen=True)
class Literal:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class FieldPath:
    """A record field, possibly through relations: `owner.team.name`."""

    path: tuple[str, ...]
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Macro:
    """`@request.auth.<path>`, `@request.body.<path>`, `@request.method`, `@now`, and
    `@channel.name` (in realtime channel rules), `@topic.name` (in push topic rules)."""

    source: str  # "auth" | "body" | "method" | "now" | "channel" | "topic"
    path: tuple[str, ...] = ()
    pos: int = field(default=0, compare=False)


Operand = Union[Literal, FieldPath, Macro]


@dataclass(frozen=True)
class Compare:
    op: str  # one of COMPARISON_OPERATORS
    left: Operand
    right: Operand
    any_of: bool = False  # `?=` etc.: true when any item of a multi value matches


@dataclass(frozen=True)
class And:
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Expr", ...]


Expr = Union[Compare, And, Or]
