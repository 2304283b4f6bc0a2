"""Why a rule holds or fails for one row: the expression tree with each part's result.

For the console's "test as" panel. Every comparison is decided by the compiler's own
in-memory evaluation (`evaluate`, which calls the operands' `test`), and `&&`/`||` combine
the parts as `evaluate` does, so an explanation can never disagree with the real check.
Relation paths (`owner.team.name`) are tested by their operands as the check does: with a
query on the related collection that applies its view rule; they are marked `related`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.rules.ast import And, Expr, FieldPath, Literal, Macro, Or
from apps.rules.compiler import Resolver, RuleContext, evaluate
from apps.rules.parser import parse
from apps.rules.values import MISSING


@dataclass
class Side:
    """One operand of a comparison as written, and the value it had."""

    text: str  # `owner`, `@request.auth.id`, `"open"`
    kind: str  # "field" | "macro" | "literal"
    value: Any = None
    missing: bool = False  # a macro with no value (a guest's @request.auth.id)
    related: bool = False  # a path through a relation: tested on the related record


@dataclass
class Explanation:
    """A node of the tree: `kind` is "and", "or", "compare", "locked" (a null rule:
    superusers only) or "public" (an empty rule: everyone)."""

    kind: str
    result: bool
    children: list["Explanation"] = field(default_factory=list)
    op: str = ""
    left: Side | None = None
    right: Side | None = None


def explain_text(
    text: str | None, resolver: Resolver, ctx: RuleContext, row: dict
) -> Explanation:
    """A rule as stored (None: superusers only, "": everyone) explained for `row`."""
    if text is None:
        return Explanation("locked", False)
    if text == "":
        return Explanation("public", True)
    return explain(parse(text), resolver, ctx, row)


def explain(expr: Expr, resolver: Resolver, ctx: RuleContext, row: dict) -> Explanation:
    """The expression tested against one stored row (attname -> value), part by part."""
    if isinstance(expr, (And, Or)):
        children = [explain(item, resolver, ctx, row) for item in expr.items]
        results = [child.result for child in children]
        if isinstance(expr, And):
            return Explanation("and", all(results), children)
        return Explanation("or", any(results), children)
    result = evaluate(expr, resolver, ctx, row)
    return Explanation(
        "compare",
        result,
        op=("?" if expr.any_of else "") + expr.op,
        left=_side(expr.left, resolver, ctx, row),
        right=_side(expr.right, resolver, ctx, row),
    )


def _side(operand, resolver: Resolver, ctx: RuleContext, row: dict) -> Side:
    if isinstance(operand, Literal):
        return Side(_literal_text(operand.value), "literal", operand.value)
    if isinstance(operand, Macro):
        value = ctx.value(operand)
        return Side(
            _macro_text(operand),
            "macro",
            None if value is MISSING else value,
            missing=value is MISSING,
        )
    assert isinstance(operand, FieldPath)
    resolved = resolver.resolve(operand)
    inner = getattr(resolved, "operand", resolved)  # a Guarded field: its operand
    name = getattr(inner, "name", None)
    if name is None:  # a relation (hop or multiple): the row holds the related ids
        attname = inner.field.attname
        value = row.get(f"{attname}_id", row.get(attname))
        related = getattr(inner, "inner", True) is not None
        return Side(".".join(operand.path), "field", value, related=related)
    stored = getattr(inner, "stored", None)
    value = stored(row) if stored is not None else row.get(name)
    return Side(".".join(operand.path), "field", value)


def _literal_text(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _macro_text(macro: Macro) -> str:
    if macro.source in ("now", "method"):
        return "@now" if macro.source == "now" else "@request.method"
    if macro.source in ("channel", "topic"):
        return f"@{macro.source}.name"
    return ".".join(("@request", macro.source, *macro.path))
