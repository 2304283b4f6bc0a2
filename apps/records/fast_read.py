"""The lean read path (DESIGN.md decision 6): compiled SQL, raw cursor, light converters.

A queryset is compiled once per plan key (schema stamp, who is asking, the query
parameters) and then executed with the database cursor directly, converting only the
column types that need it. This skips Django's queryset cloning, SQL compilation and
per-row converter machinery on every request after the first.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, DateTimeField, JSONField

from apps.collections.dynamic import cache

MAX_PLANS = 512
_plans: dict[tuple, "Plan"] = {}
_lock = threading.Lock()
UTC = dt.timezone.utc


def _datetime(value):
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _bool(value):
    return None if value is None else bool(value)


def _json(value):
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


@dataclass(frozen=True)
class Plan:
    sql: str
    params: tuple
    names: tuple[str, ...]
    converters: tuple


def _converter(field):
    if isinstance(field, DateTimeField):
        return _datetime
    if isinstance(field, BooleanField):
        return _bool
    if isinstance(field, JSONField):
        return _json
    return None


def compile_plan(queryset, *, datetimes: bool = False) -> Plan:
    """A `.values()` queryset as SQL, parameters, column names and converters.
    Datetimes stay as stored unless `datetimes` (rows that rules are tested on)."""
    query = queryset.query
    compiler = query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:  # a condition no row can meet (e.g. `pk IN ()`)
        sql, params = "", ()
    if query.selected:  # as Django's ValuesIterable reads them
        names = tuple(query.selected)
    else:
        names = (*query.extra_select, *query.values_select, *query.annotation_select)
    converters = []
    model = queryset.model
    for name in names:
        if name in query.annotation_select:
            field = query.annotation_select[name].output_field
            converters.append(_converter(field))
            continue
        field = model._meta.get_field(name)
        if field.is_relation:
            field = field.target_field
        # Stored datetimes are only rendered, which takes naive UTC (SQLite) as it is.
        rendered_only = isinstance(field, DateTimeField) and not datetimes
        converters.append(None if rendered_only else _converter(field))
    return Plan(sql, tuple(params), tuple(names), tuple(converters))


def cached(key: tuple | None) -> Plan | None:
    return None if key is None else _plans.get(key)


def store(key: tuple, plan: Plan) -> None:
    with _lock:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        _plans[key] = plan


def _c_timestamptz_loader():
    """psycopg's C loader for timestamptz, if the binary build is installed. Django
    registers a pure-Python one (it sets the time zone); these rows are only rendered
    as UTC, and parsing was a third of a 50-row list's time on PostgreSQL."""
    try:
        import psycopg
        from psycopg._cmodule import _psycopg
    except ImportError:
        return None
    if _psycopg is None or psycopg.pq.__impl__ != "binary":
        return None
    return getattr(_psycopg, "TimestamptzLoader", None)


_FAST_TIMESTAMPTZ = _c_timestamptz_loader()


def run(plan: Plan, params: tuple | None = None) -> list[dict]:
    """The plan's rows; a stamp check a deferred read owes (dynamic/cache.py) goes in the
    same round trip, and a moved stamp raises cache.StaleSpec before any row is used."""
    if not plan.sql:
        return []
    params = plan.params if params is None else params
    check = cache.take_pending_check()
    with connection.cursor() as cursor:
        if _FAST_TIMESTAMPTZ is not None and connection.vendor == "postgresql":
            cursor.cursor.adapters.register_loader("timestamptz", _FAST_TIMESTAMPTZ)
        if check is None:
            cursor.execute(plan.sql, params)
        else:
            stamp_sql, stamp_params = cache.stamp_query(check)
            cursor.execute(f"{stamp_sql}; {plan.sql}", [*stamp_params, *params])
            cache.confirm(check, cursor.fetchone())
            cursor.nextset()
        rows = cursor.fetchall()
    names, converters = plan.names, plan.converters
    active = [(i, c) for i, c in enumerate(converters) if c is not None]
    out = []
    for row in rows:
        if active:
            row = list(row)
            for i, convert in active:
                row[i] = convert(row[i])
        out.append(dict(zip(names, row, strict=True)))
    return out


def clear() -> None:
    _plans.clear()


_inserts: dict[tuple, tuple[str, list]] = {}


def insert_row(model, values: dict) -> None:
    """INSERT one row (attname -> Python value; defaults for the rest) with SQL built
    once per model: Model.save()'s machinery is most of a create's cost otherwise."""
    key = (model, connection.vendor)
    built = _inserts.get(key)
    if built is None:
        fields = list(model._meta.concrete_fields)
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
        if len(_inserts) >= MAX_PLANS:  # models of old schema versions
            _inserts.clear()
        built = _inserts[key] = (sql, fields)
    sql, fields = built
    params = [
        f.get_db_prep_save(
            values[f.attname] if f.attname in values else f.get_default(), connection
        )
        for f in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
