"""Field operands for the expression language: record fields as SQL and as Python.

`RecordResolver` turns a field path of a collection into an operand (apps.rules.compiler
`FieldOperand`). Relation paths become subqueries on the target collection that include
the target's view rule, so `owner.team.name = "x"` never reveals a record its caller
could not view; the in-memory test of such a path runs the same subquery.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db.models import BooleanField, Expression, F, Q

from apps.collections.field_types import get_type
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.rules.ast import FieldPath, Macro
from apps.rules.compiler import RuleError
from apps.rules.values import (
    MILLISECOND,
    MISSING,
    NotComparable,
    coerce,
    compare,
    is_empty,
    to_millisecond,
)

if TYPE_CHECKING:
    from apps.collections.access import Access

MAX_PATH = 4  # relation hops in one path
TEXT_KINDS = frozenset({"text", "list"})
KIND_BY_TYPE = {"number": "number", "bool": "bool", "date": "date", "json": "json"}
SYSTEM_KINDS = {"id": "text", "created": "date", "updated": "date", "email": "text"}
LOOKUPS = {
    "=": "exact",
    ">": "gt",
    ">=": "gte",
    "<": "lt",
    "<=": "lte",
    "~": "icontains",
}


def _no_match(op: str) -> bool:
    """A comparison with a missing or ill-typed value: only the negations hold."""
    return op in ("!=", "!~")


def field_kind(field: FieldSpec) -> str:
    if field.type in ("select", "file") and field.options.get("multiple"):
        return "list"
    return KIND_BY_TYPE.get(field.type, "text")


class ColumnOperand:
    """A column of the row: a system field or a scalar field (a relation's id too)."""

    def __init__(self, name: str, lookup: str, kind: str, label: str) -> None:
        self.name, self.lookup, self.kind, self.label = name, lookup, kind, label

    def _value(self, op: str, value):
        if value is MISSING:
            return MISSING
        try:
            value = coerce(self.kind, value)
        except NotComparable:
            return MISSING
        if self.kind == "bool" and is_empty(value):
            return False  # a bool is never shown as null: null reads as false
        return value

    def condition(self, op, value, any_of):
        value = self._value(op, value)
        if value is MISSING or (op in ("~", "!~") and self.kind != "text"):
            return _no_match(op)
        if op in ("!=", "!~"):
            positive = self.condition("=" if op == "!=" else "~", value, any_of)
            return not positive if isinstance(positive, bool) else ~positive
        if self.kind == "bool":
            if op != "=":
                return False
            if value:
                return Q(**{self.lookup: True})
            return Q(**{self.lookup: False}) | Q(**{f"{self.lookup}__isnull": True})
        if is_empty(value):
            if op == "=":
                empty = Q(**{f"{self.lookup}__isnull": True})
                return empty | Q(**{self.lookup: ""}) if self.kind == "text" else empty
            if op == "~":
                return Q(**{f"{self.lookup}__isnull": False})
            return False
        if self.kind == "date":
            return _date_condition(self.lookup, op, value)
        return Q(**{f"{self.lookup}__{LOOKUPS[op]}": value})

    def stored(self, row: dict):
        value = row.get(self.name)
        if self.kind == "bool":
            return bool(value)
        return value

    def stored_for_literal(self, row: dict):
        """The stored value as compared with a literal: a date at the API's precision
        (`created` can hold microseconds; clients see and send milliseconds)."""
        value = self.stored(row)
        if self.kind == "date" and isinstance(value, dt.datetime):
            return to_millisecond(value)
        return value

    def test(self, row, op, value, any_of):
        value = self._value(op, value)
        if value is MISSING or (op in ("~", "!~") and self.kind != "text"):
            return _no_match(op)
        stored = self.stored(row)
        if self.kind == "bool":  # as in SQL: only = and != mean anything for a bool
            if op in ("=", "!="):
                return (stored == value) == (op == "=")
            return False
        if self.kind == "json":  # only null checks; a JSON "" is a value, not empty
            if op in ("=", "!=") and is_empty(value):
                return (stored is None) == (op == "=")
            return _no_match(op)
        return compare(op, self.stored_for_literal(row), value)

    def _same_kind(self, other) -> bool:
        """Field-to-field comparisons: same kind, never JSON (which compares with null
        only), and no order between bools."""
        return (
            isinstance(other, ColumnOperand)
            and other.kind == self.kind
            and self.kind != "json"
        )

    def condition_field(self, op, other):
        if not self._same_kind(other) or op in ("~", "!~") or self._unordered(op):
            return _no_match(op)
        if op in ("=", "!="):
            both_empty = self.condition("=", None, False) & other.condition(
                "=", None, False
            )
            equal = Q(**{self.lookup: F(other.lookup)}) | both_empty
            return equal if op == "=" else ~equal
        return Q(**{f"{self.lookup}__{LOOKUPS[op]}": F(other.lookup)})

    def test_field(self, row, op, other):
        if not self._same_kind(other) or op in ("~", "!~") or self._unordered(op):
            return _no_match(op)
        return compare(op, self.stored(row), other.stored(row))

    def _unordered(self, op: str) -> bool:
        return self.kind == "bool" and op not in ("=", "!=")

    def check_value(self, op, value, any_of, pos):
        if op in ("~", "!~") and self.kind != "text":
            raise RuleError(f"{op} needs a text field; {self.label} is not one", pos)
        if self.kind == "json" and not is_empty(value):
            raise RuleError(f"{self.label} (json) can only be compared with null", pos)
        try:
            coerce(self.kind, value)
        except NotComparable:
            raise RuleError(
                f"{self.label} cannot be compared with {value!r}", pos
            ) from None
        if self.kind in ("json", "bool") and op in (">", ">=", "<", "<="):
            raise RuleError(f"{self.label} has no order", pos)


def _date_condition(lookup: str, op: str, value: dt.datetime) -> Q | bool:
    """`lookup op value` on the stored time truncated to milliseconds, as ranges an
    index serves: `created <= @now` holds for a row stamped earlier in the same
    millisecond as `@now`, `created = "<a rendered created>"` finds its row."""
    try:
        upper = value + MILLISECOND
    except OverflowError:  # the last millisecond of year 9999: nothing lies beyond it
        upper = None
    if op == "=":
        at_least = Q(**{f"{lookup}__gte": value})
        return at_least if upper is None else at_least & Q(**{f"{lookup}__lt": upper})
    if op == ">":
        return False if upper is None else Q(**{f"{lookup}__gte": upper})
    if op == "<=":
        if upper is None:
            return Q(**{f"{lookup}__isnull": False})
        return Q(**{f"{lookup}__lt": upper})
    return Q(**{f"{lookup}__{LOOKUPS[op]}": value})  # >= and <: no rounding needed


class JsonItems(Expression):
    """Over the items of a JSON list column (select multiple): whether any item
    matches, or (`every`) whether there are items and all of them match."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, column: str, value, *, negate_item: bool, every: bool):
        super().__init__()
        self.column, self.value = F(column), value
        self.negate_item, self.every = negate_item, every

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, **kw):
        copy = self.copy()
        copy.column = self.column.resolve_expression(query, allow_joins, reuse, **kw)
        return copy

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, exprs):
        (self.column,) = exprs

    def as_sql(self, compiler, connection):
        column, column_params = compiler.compile(self.column)
        if connection.vendor == "postgresql":
            items = (
                f"jsonb_array_elements_text(COALESCE({column}, '[]'::jsonb)) AS e(v)"
            )
            item = "e.v"
        else:
            items, item = f"json_each({column}) AS e", "e.value"
        params = list(column_params)
        if self.value is None:
            return f"EXISTS (SELECT 1 FROM {items})", params
        condition = f"{item} = %s"
        if self.negate_item:
            condition = f"NOT ({condition})"
        params.append(self.value)
        if not self.every:
            return f"EXISTS (SELECT 1 FROM {items} WHERE {condition})", params
        sql = (
            f"(EXISTS (SELECT 1 FROM {items}) AND "
            f"NOT EXISTS (SELECT 1 FROM {items} WHERE NOT ({condition})))"
        )
        return sql, [*column_params, *params]


def _multi_test(items: list, test, any_of: bool) -> bool:
    """`?op`: any item matches; `op`: there are items and every one matches."""
    if any_of:
        return any(test(item) for item in items)
    return bool(items) and all(test(item) for item in items)


class ListOperand:
    """A JSON list of strings (select multiple)."""

    def __init__(self, name: str, label: str) -> None:
        self.name, self.label = name, label

    def _value(self, value):
        if value is MISSING:
            return MISSING
        try:
            return coerce("list", value)
        except NotComparable:
            return MISSING

    def condition(self, op, value, any_of):
        value = self._value(value)
        if value is MISSING or op not in ("=", "!="):
            return _no_match(op)
        if is_empty(value):  # = null: no items
            has_items = JsonItems(self.name, None, negate_item=False, every=False)
            return ~Q(has_items) if op == "=" else Q(has_items)
        return Q(JsonItems(self.name, value, negate_item=op == "!=", every=not any_of))

    def test(self, row, op, value, any_of):
        value = self._value(value)
        if value is MISSING or op not in ("=", "!="):
            return _no_match(op)
        items = row.get(self.name) or []
        if is_empty(value):
            return not items if op == "=" else bool(items)
        return _multi_test(items, lambda item: compare(op, item, value), any_of)

    def condition_field(self, op, other):
        return _no_match(op)

    def test_field(self, row, op, other):
        return _no_match(op)

    def check_value(self, op, value, any_of, pos):
        if op not in ("=", "!="):
            raise RuleError(f"{self.label} (a list) takes = and != only", pos)
        try:
            coerce("list", value)
        except NotComparable:
            raise RuleError(
                f"{self.label} cannot be compared with {value!r}", pos
            ) from None


class ManyOperand:
    """A multiple relation, by the related ids (stored in the junction table) or, with
    `inner`, by a path through the related records the caller may view."""

    def __init__(self, field, model, target: "Access", inner, label: str) -> None:
        self.field, self.model, self.target = field, model, target
        self.inner, self.label = inner, label
        self.through, self.src, self.dst = _through(model, field)

    def _item_condition(self, op, value, any_of) -> Q | bool:
        """A condition on junction rows: which related ids match."""
        if self.inner is None:
            column = ColumnOperand(self.dst, self.dst, "id", self.label)
            return column.condition(op, value, False)
        ids = _visible_matching(self.target, self.inner.condition(op, value, any_of))
        return False if ids is None else Q(**{f"{self.dst}__in": ids})

    def _with_items(self, condition: Q | bool):
        rows = self.through.objects.all()
        if condition is False:
            return None
        return rows if condition is True else rows.filter(condition)

    def condition(self, op, value, any_of):
        if self.inner is None and is_empty(value) and value is not MISSING:
            if op not in ("=", "!="):
                return _no_match(op)
            has_items = Q(pk__in=self.through.objects.values(self.src))
            return ~has_items if op == "=" else has_items
        item = self._item_condition(op, value, any_of)
        matching = self._with_items(item)
        if any_of:
            return False if matching is None else Q(pk__in=matching.values(self.src))
        has_items = Q(pk__in=self.through.objects.values(self.src))
        if item is True:
            return has_items
        failing = self.through.objects.all() if item is False else None
        if failing is None:
            failing = self.through.objects.exclude(item)
        return has_items & ~Q(pk__in=failing.values(self.src))

    def test(self, row, op, value, any_of):
        ids = list(row.get(self.field.attname) or [])
        if self.inner is None:
            if is_empty(value) and value is not MISSING:
                if op not in ("=", "!="):
                    return _no_match(op)
                return (not ids) == (op == "=")
            column = ColumnOperand("v", "v", "id", self.label)
            return _multi_test(
                ids, lambda i: column.test({"v": i}, op, value, False), any_of
            )
        if not ids:
            return False
        matching = _count_matching(
            self.target, ids, self.inner.condition(op, value, any_of)
        )
        return matching > 0 if any_of else matching == len(set(ids))

    def condition_field(self, op, other):
        return _no_match(op)

    def test_field(self, row, op, other):
        return _no_match(op)

    def check_value(self, op, value, any_of, pos):
        if self.inner is not None:
            self.inner.check_value(op, value, any_of, pos)
        elif op not in ("=", "!=") or not (value is None or isinstance(value, str)):
            raise RuleError(f"{self.label} (relation ids) takes = or != an id", pos)


def _visible_matching(target: "Access", condition: Q | bool):
    """Ids of target records the caller may view and that meet `condition`, as a
    subquery; None when there can be none."""
    from apps.rules.compiler import _and

    both = _and([target.rule("view"), condition])
    if both is False:
        return None
    rows = target.model().objects.all()
    return (rows if both is True else rows.filter(both)).values("pk")


def _count_matching(target: "Access", ids: list, condition: Q | bool) -> int:
    subquery = _visible_matching(target, condition)
    if subquery is None:
        return 0
    return target.model().objects.filter(pk__in=ids).filter(pk__in=subquery).count()


class HopOperand:
    """A path through a single relation: the rest of the path is tested on the related
    record, and only if the caller may view it."""

    def __init__(self, field, target: "Access", inner, label: str) -> None:
        self.field, self.target, self.inner, self.label = field, target, inner, label

    def condition(self, op, value, any_of):
        ids = _visible_matching(self.target, self.inner.condition(op, value, any_of))
        return False if ids is None else Q(**{f"{self.field.attname}__in": ids})

    def test(self, row, op, value, any_of):
        related = row.get(f"{self.field.attname}_id", row.get(self.field.attname))
        if related is None:
            return False
        condition = self.inner.condition(op, value, any_of)
        return _count_matching(self.target, [related], condition) > 0

    def condition_field(self, op, other):
        return _no_match(op)

    def test_field(self, row, op, other):
        return _no_match(op)

    def check_value(self, op, value, any_of, pos):
        self.inner.check_value(op, value, any_of, pos)


class Guarded:
    """A field with its own read rule, in a client filter: a comparison holds only on
    records where the caller may read the field (no side channel through filters)."""

    def __init__(self, operand, access: "Access", field: FieldSpec) -> None:
        self.operand, self.access, self.field = operand, access, field

    def condition(self, op, value, any_of):
        from apps.rules.compiler import _and

        readable = self.access.field_readable(self.field)
        return _and([readable, self.operand.condition(op, value, any_of)])

    def condition_field(self, op, other):
        return _no_match(op)

    def test(self, row, op, value, any_of):
        return self.access.field_readable_row(self.field, row) and self.operand.test(
            row, op, value, any_of
        )

    def test_field(self, row, op, other):
        return _no_match(op)

    def check_value(self, op, value, any_of, pos):
        self.operand.check_value(op, value, any_of, pos)


def _through(model, field: FieldSpec):
    m2m = model._meta.get_field(field.attname)
    return m2m.remote_field.through, m2m.m2m_column_name(), m2m.m2m_reverse_name()


class RecordResolver:
    """Field paths of one collection, for a rule (every field) or a client filter
    (only fields the caller may read)."""

    def __init__(self, access: "Access", *, client: bool, depth: int = 0) -> None:
        self.access, self.client, self.depth = access, client, depth

    @property
    def spec(self) -> CollectionSpec:
        return self.access.spec

    def resolve(self, path: FieldPath):
        name, rest = path.path[0], path.path[1:]
        label = ".".join(path.path)
        if len(path.path) > MAX_PATH + 1:
            raise RuleError(
                f"{label}: at most {MAX_PATH} relations in a path", path.pos
            )
        if name in self.spec.system_field_names():
            if rest:
                raise RuleError(f"{name} is not a relation", path.pos)
            return ColumnOperand(name, name, SYSTEM_KINDS[name], name)
        field = self.spec.field_by_name(name)
        readable: Q | bool = True
        if field is not None and self.client:
            readable = self.access.field_readable(field)
        if field is None or readable is False:
            raise RuleError(f"{self.spec.name} has no field {name!r}", path.pos)
        if field.type == "relation":
            operand = self._relation(field, rest, path, label)
        elif rest:
            raise RuleError(f"{name} is not a relation", path.pos)
        elif field_kind(field) == "list":
            operand = ListOperand(field.attname, label)
        else:
            operand = ColumnOperand(
                field.attname,
                get_type(field.type).write_name(field),
                field_kind(field),
                label,
            )
        return operand if readable is True else Guarded(operand, self.access, field)

    def _relation(self, field, rest, path, label):
        many = get_type("relation").is_many(field)
        if not rest and not many:
            return ColumnOperand(field.attname, f"{field.attname}_id", "id", label)
        target = self.access.related(field.options["collection"])
        inner = None
        if rest:
            nested = RecordResolver(target, client=self.client, depth=self.depth + 1)
            inner = nested.resolve(FieldPath(rest, pos=path.pos))
        if many:
            return ManyOperand(field, self.access.model(), target, inner, label)
        return HopOperand(field, target, inner, label)

    def check_macro(self, macro: Macro) -> None:
        if macro.source in ("channel", "topic"):
            raise RuleError(
                f"@{macro.source}.name exists in {macro.source} rules only", macro.pos
            )
        if macro.source == "auth":
            if len(macro.path) != 1 or not self.access.auth_field_known(macro.path[0]):
                raise RuleError(
                    f"@request.auth has no field {'.'.join(macro.path)!r}", macro.pos
                )
        elif macro.source == "body":
            root = self.access.root_spec
            names = {f.name for f in root.fields} | {"id"}
            if root.is_auth:
                names.add("email")
            if len(macro.path) != 1 or macro.path[0] not in names:
                raise RuleError(
                    f"@request.body.{'.'.join(macro.path)}: {root.name} has no such "
                    "field",
                    macro.pos,
                )
