"""Listing records: rules, `filter`, `sort`, keyset `cursor` or `page`, `fields`,
`expand`, `count` (API.md "Records")."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import zlib

import orjson
from django.db.models import Case, F, Q, Value, When

from apps.collections.access import Access
from apps.collections.field_types import get_type
from apps.collections.rule_fields import field_kind
from apps.collections.services import get_spec
from apps.core.exceptions import InvalidInput
from apps.records import fast_read
from apps.records.expand import expand_records, parse_expand, split_fields
from apps.records.record_view import RecordView
from apps.records.records import retry_on_schema_race
from apps.rules.parser import RuleSyntaxError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_SORT_KEYS = 8
MAX_FIELDS_LENGTH = 2000
SORTABLE_KINDS = frozenset({"text", "number", "bool", "date"})


def _param_int(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{name} must be an integer.", code="invalid", param=name
        ) from None
    if not low <= value <= high:
        raise InvalidInput(
            f"{name} must be between {low} and {high}.", code="out_of_range", param=name
        )
    return value


class SortKey:
    """One `sort` key: an expression to order by, its kind, and its direction.

    Empty values sort as the largest, on every database (PostgreSQL's own default, so its
    indexes serve the order): last ascending, first descending. System fields are never
    empty and get a plain ORDER BY, which an index on them serves on both databases.
    """

    def __init__(
        self,
        name: str,
        expression,
        kind: str,
        descending: bool,
        nullable: bool = True,
        field: str = "",
    ) -> None:
        self.name, self.expression, self.kind = name, expression, kind
        self.descending, self.nullable = descending, nullable
        self.field = field  # the public name, as `sort` spells it

    def order(self):
        if not self.nullable:
            return self.expression.desc() if self.descending else self.expression.asc()
        if self.descending:
            return self.expression.desc(nulls_first=True)
        return self.expression.asc(nulls_last=True)

    def after(self, value) -> Q:
        """Rows strictly after `value` in this key's order."""
        if self.descending:
            if value is None:
                return Q(**{f"{self.name}__isnull": False})
            return Q(**{f"{self.name}__lt": value})
        if value is None:
            return Q(pk__in=[])
        after = Q(**{f"{self.name}__gt": value})
        return after | Q(**{f"{self.name}__isnull": True}) if self.nullable else after

    def equal(self, value) -> Q:
        if value is None:
            return Q(**{f"{self.name}__isnull": True})
        return Q(**{self.name: value})


def parse_sort(text: str | None, access: Access) -> list[SortKey]:
    """`-created,title` -> keys (aliases `_s0`, `_s1`...), with `id` as the tiebreak."""
    spec = access.spec
    items = [p.strip() for p in (text or "-created").split(",")]
    if len(items) > MAX_SORT_KEYS or any(not p or p in "+-" for p in items):
        raise InvalidInput(
            f"sort takes 1 to {MAX_SORT_KEYS} comma-separated field names.",
            param="sort",
        )
    keys: list[SortKey] = []
    for item in items:
        descending, name = item.startswith("-"), item.lstrip("+-")
        alias = f"_s{len(keys)}"
        if name in spec.system_field_names():
            kind = "date" if name in ("created", "updated") else "text"
            keys.append(
                SortKey(alias, F(name), kind, descending, nullable=False, field=name)
            )
            continue
        field = spec.field_by_name(name)
        readable = access.field_readable(field) if field is not None else False
        if readable is False:
            raise InvalidInput(
                f"{spec.name} has no field {name!r}.",
                code="unknown_field",
                param="sort",
            )
        kind = field_kind(field)
        if kind not in SORTABLE_KINDS or get_type(field.type).is_many(field):
            raise InvalidInput(
                f"{name} cannot be sorted by.", code="not_sortable", param="sort"
            )
        expression = F(get_type(field.type).write_name(field))
        if readable is not True:  # sorting must not reveal values the caller can't read
            column = access.model()._meta.get_field(field.attname)
            expression = Case(
                When(readable, then=expression),
                default=Value(None),
                output_field=column.target_field if column.is_relation else column,
            )
        keys.append(SortKey(alias, expression, kind, descending, field=name))
    if not any(k.field == "id" for k in keys):
        keys.append(
            SortKey(
                f"_s{len(keys)}",
                F("id"),
                "text",
                keys[-1].descending,
                nullable=False,
                field="id",
            )
        )
    return keys


def _sort_signature(keys: list[SortKey]) -> int:
    """Which sort a cursor belongs to, without naming anything internal."""
    text = ",".join(("-" if k.descending else "") + k.field for k in keys)
    return zlib.crc32(text.encode())


def _cursor_value(kind: str, value):
    if value is None:
        return None
    if kind == "date":
        return value.isoformat()
    return value


def encode_cursor(keys: list[SortKey], row: dict) -> str:
    values = [_cursor_value(k.kind, row[k.name]) for k in keys]
    raw = orjson.dumps([_sort_signature(keys), values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not valid.", code="invalid_cursor", param="cursor"
    )


def _decode_value(kind: str, value):
    """Only values encode_cursor can have made reach the database."""
    if value is None:
        return None
    if kind == "date":
        if not isinstance(value, str):
            raise ValueError
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed.astimezone(dt.timezone.utc)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError
        return value
    if not isinstance(value, str) or "\x00" in value or len(value) > 10_000:
        raise ValueError
    return value


def decode_cursor(cursor: str, keys: list[SortKey]) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        signature, values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if signature != _sort_signature(keys) or len(values) != len(keys):
            raise ValueError("cursor of another sort")
        return [_decode_value(k.kind, v) for k, v in zip(keys, values, strict=True)]
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise _bad_cursor() from None


def _after(keys: list[SortKey], values: list) -> Q:
    """Keyset condition: rows after `values` in the (k1, k2, ..., id) order."""
    condition = Q(pk__in=[])
    prefix = Q()
    for key, value in zip(keys, values, strict=True):
        condition |= prefix & key.after(value)
        prefix &= key.equal(value)
    return condition


def _filter(access: Access, text: str | None):
    if text is None or text == "":
        return True
    try:
        return access.filter(text)
    except RuleSyntaxError as exc:
        raise InvalidInput(
            f"Invalid filter: {exc}", code="invalid_filter", param="filter"
        ) from None


def parse_fields(text: str | None) -> tuple[set[str] | None, dict]:
    """`title,owner.name` -> ({"title", "id"}, {"owner": ["name"]}) for expand; only
    dotted names -> (None, {...}): the record's own fields are then not restricted."""
    if text is None or text == "":
        return None, {}
    if len(text) > MAX_FIELDS_LENGTH:
        raise InvalidInput("fields is too long.", param="fields")
    return split_fields([item.strip() for item in text.split(",")])


@retry_on_schema_race
def record_list(*, actor, collection: str, params) -> dict:
    """Newest first by default; keyset pages with `cursor`, offset pages with `page`."""
    spec = get_spec(collection, deferred=True)
    access = Access(actor, spec)
    access.require("list")
    limit = _param_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    cursor, page = params.get("cursor"), params.get("page")
    if cursor and page:
        raise InvalidInput(
            "Use either cursor or page, not both.", code="invalid", param="page"
        )
    names, nested_fields = parse_fields(params.get("fields"))
    expand = parse_expand(params.get("expand"), access, nested_fields, fields=names)
    view = RecordView(access, names | set(expand.names) if names else None)
    keys = parse_sort(params.get("sort"), access)
    key = None if cursor else _plan_key(access, params, limit)
    plan = fast_read.cached(key)
    if plan is None:
        condition = _and(access.rule("list"), _filter(access, params.get("filter")))
        if condition is False:
            return _empty(params)
        queryset = _ordered(access.model(), condition, keys)
        if cursor:
            queryset = queryset.filter(_after(keys, decode_cursor(cursor, keys)))
        elif page:
            number = _param_int(params, "page", 1, 1, 1_000_000)
            queryset = queryset[(number - 1) * limit :]
        sort_values = {k.name: F(k.name) for k in keys}
        plan = fast_read.compile_plan(view.values(queryset, **sort_values)[: limit + 1])
        if key is not None and not access.used_related:
            fast_read.store(key, plan)
    rows = fast_read.run(plan)
    more = len(rows) > limit
    rows = rows[:limit]
    items = view.render(rows)
    if expand.names:
        expand_records(expand, rows, items)
    body = {
        "items": items,
        "next_cursor": encode_cursor(keys, rows[-1]) if more and rows else None,
    }
    if params.get("count") in ("1", "true"):
        body["total"] = _count(access, params)
    return body


# Texts whose compiled SQL depends on more than the schema and the caller's id: `@now`,
# and values of the caller's own record (which can change without a schema change).
_VOLATILE = re.compile(r"@now|@request\.auth\.(?!id\b)")


def _plan_key(access: Access, params, limit: int) -> tuple | None:
    """What the compiled list query depends on, or None if it must not be cached."""
    spec = access.spec
    texts = [spec.rules.get("list") or "", params.get("filter") or ""]
    texts += [(f.rules or {}).get("read") or "" for f in spec.fields]
    if any(_VOLATILE.search(text) for text in texts):
        return None
    user = access.user.pk if access.user is not None else None
    return (
        "list",
        spec.id,
        spec.stamp,
        access.privileged,
        user,
        *(params.get(name) for name in ("filter", "sort", "fields", "expand", "page")),
        limit,
    )


def _ordered(model, condition, keys: list[SortKey]):
    queryset = (
        model.objects.all() if condition is True else model.objects.filter(condition)
    )
    return queryset.alias(**{k.name: k.expression for k in keys}).order_by(
        *[k.order() for k in keys]
    )


def _empty(params) -> dict:
    body: dict = {"items": [], "next_cursor": None}
    if params.get("count") in ("1", "true"):
        body["total"] = 0
    return body


def _count(access: Access, params) -> int:
    condition = _and(access.rule("list"), _filter(access, params.get("filter")))
    if condition is False:
        return 0
    model = access.model()
    queryset = (
        model.objects.all() if condition is True else model.objects.filter(condition)
    )
    return queryset.count()


def _and(a, b):
    from apps.rules.compiler import _and as and_

    return and_([a, b])
