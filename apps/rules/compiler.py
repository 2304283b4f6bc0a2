"""Compile a parsed expression to a Django `Q` or evaluate it in memory.

The grammar knows nothing of models (DESIGN.md decision 3): a `Resolver` supplied by the
caller turns each field path into a `FieldOperand`, which knows how to build the SQL
condition and how to test a stored row. This module holds the boolean structure, the
macros and constant folding: a comparison of two plain values is decided here, so a rule
like `@request.auth.id != ""` costs no SQL at all.

Results are `True`, `False` or a `Q`; callers treat booleans as "every row"/"no row".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from django.db.models import Q

from apps.rules import values
from apps.rules.ast import And, Compare, Expr, FieldPath, Literal, Macro, Or
from apps.rules.parser import RuleSyntaxError, parse
from apps.rules.values import MIRROR, MISSING, compare

Condition = "Q | bool"


class RuleError(RuleSyntaxError):
    """An expression that parses but does not fit the collection (unknown field...)."""


class FieldOperand(Protocol):
    def condition(self, op: str, value: Any, any_of: bool) -> Q | bool: ...

    def condition_field(self, op: str, other: "FieldOperand") -> Q | bool: ...

    def test(self, row: dict, op: str, value: Any, any_of: bool) -> bool: ...

    def test_field(self, row: dict, op: str, other: "FieldOperand") -> bool: ...

    def check_value(self, op: str, value: Any, any_of: bool, pos: int) -> None: ...


class Resolver(Protocol):
    def resolve(self, path: FieldPath) -> FieldOperand: ...

    def check_macro(self, macro: Macro) -> None: ...


@dataclass
class RuleContext:
    """The request side of an expression: `@request.*` and `@now`."""

    auth: Callable[[tuple[str, ...]], Any] | None = None
    body: Any = None
    method: str = "GET"
    now: dt.datetime = field(default_factory=values.now)
    channel: str | None = None  # `@channel.name`, in realtime channel rules
    topic: str | None = None  # `@topic.name`, in push topic rules

    def value(self, macro: Macro):
        if macro.source == "now":
            return self.now
        if macro.source == "method":
            return self.method
        if macro.source == "auth":
            return MISSING if self.auth is None else self.auth(macro.path)
        if macro.source == "channel":
            return MISSING if self.channel is None else self.channel
        if macro.source == "topic":
            return MISSING if self.topic is None else self.topic
        node = self.body
        for key in macro.path:
            if not isinstance(node, dict) or key not in node:
                return MISSING
            node = node[key]
        return node


def _and(items: list[Q | bool]) -> Q | bool:
    result: Q | bool = True
    for item in items:
        if item is False:
            return False
        if item is True:
            continue
        result = item if result is True else result & item
    return result


def _or(items: list[Q | bool]) -> Q | bool:
    result: Q | bool = False
    for item in items:
        if item is True:
            return True
        if item is False:
            continue
        result = item if result is False else result | item
    return result


def _side(operand, resolver: Resolver, ctx: RuleContext | None):
    """(FieldOperand, None) for a field, (None, value) for a literal or macro."""
    if isinstance(operand, FieldPath):
        return resolver.resolve(operand), None
    if isinstance(operand, Literal):
        return None, operand.value
    resolver.check_macro(operand)
    return None, (MISSING if ctx is None else ctx.value(operand))


def _oriented(node: Compare, resolver: Resolver, ctx: RuleContext | None):
    """Put the field on the left: `5 < priority` becomes `priority > 5`."""
    left, left_value = _side(node.left, resolver, ctx)
    right, right_value = _side(node.right, resolver, ctx)
    op = node.op
    if left is None and right is not None:
        if op not in MIRROR:
            position = getattr(node.right, "pos", 0)
            raise RuleError(f"Put the field on the left of {op}", position)
        return right, MIRROR[op], left_value, None
    return left, op, right_value, right


def compile_q(expr: Expr, resolver: Resolver, ctx: RuleContext) -> Q | bool:
    """The expression as a condition on rows of the resolver's collection."""
    if isinstance(expr, And):
        return _and([compile_q(item, resolver, ctx) for item in expr.items])
    if isinstance(expr, Or):
        return _or([compile_q(item, resolver, ctx) for item in expr.items])
    field_operand, op, value, other = _oriented(expr, resolver, ctx)
    if field_operand is None:
        return compare(op, _plain(expr.left, ctx), value)
    if other is not None:
        return field_operand.condition_field(op, other)
    return field_operand.condition(op, value, expr.any_of)


def evaluate(expr: Expr, resolver: Resolver, ctx: RuleContext, row: dict) -> bool:
    """The expression tested against one stored row (attname -> value)."""
    if isinstance(expr, And):
        return all(evaluate(item, resolver, ctx, row) for item in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(item, resolver, ctx, row) for item in expr.items)
    field_operand, op, value, other = _oriented(expr, resolver, ctx)
    if field_operand is None:
        return compare(op, _plain(expr.left, ctx), value)
    if other is not None:
        return field_operand.test_field(row, op, other)
    return field_operand.test(row, op, value, expr.any_of)


def _plain(operand, ctx: RuleContext):
    if isinstance(operand, Literal):
        return operand.value
    return ctx.value(operand)


def check(expr: Expr, resolver: Resolver) -> None:
    """Resolve every path and macro and check literal types; raises RuleError."""
    if isinstance(expr, (And, Or)):
        for item in expr.items:
            check(item, resolver)
        return
    field_operand, op, value, other = _oriented(expr, resolver, None)
    if field_operand is not None and other is None and value is not MISSING:
        position = getattr(expr.left, "pos", 0)
        field_operand.check_value(op, value, expr.any_of, position)


def compile_text(text: str, resolver: Resolver, ctx: RuleContext) -> Q | bool:
    """A rule as stored: None = nobody (but superusers), "" = everyone."""
    if text is None:
        return False
    if text == "":
        return True
    return compile_q(parse(text), resolver, ctx)
