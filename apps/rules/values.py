"""Value semantics shared by SQL compilation and in-memory evaluation.

Both sides must agree on every comparison, so the rules for empties, missing values and
types live here once:
- `null` and `""` are both "empty": `x = null` and `x = ""` test for an empty value.
- A macro with no value (a guest's `@request.auth.id`, a body key that was not sent) is
  MISSING: compared with a record field it never equals anything (`owner =
  @request.auth.id` cannot match ownerless records for guests); compared with a literal it
  behaves as empty (`@request.auth.id != ""` is false for guests).
- Values of the wrong kind for a field (a string for a number field) never match.
"""

from __future__ import annotations

import datetime as dt

ORDERING = frozenset({">", ">=", "<", "<="})
MIRROR = {"=": "=", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">="}
NEGATIVE = frozenset({"!=", "!~"})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class NotComparable(Exception):
    """A value of the wrong kind for the field it is compared with."""


def fold(text: str) -> str:
    """Case folding as the database's case-insensitive match does it: SQLite's LIKE folds
    ASCII letters only; PostgreSQL's UPPER() follows the database's locale."""
    if _unicode_upper():
        return text.upper()
    return text.translate(_ASCII_LOWER)


_probed: dict[str, bool] = {}


def _unicode_upper() -> bool:
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    if connection.alias not in _probed:
        with connection.cursor() as cursor:
            cursor.execute("SELECT upper('\u00e9') = '\u00c9'")
            _probed[connection.alias] = bool(cursor.fetchone()[0])
    return _probed[connection.alias]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


MILLISECOND = dt.timedelta(milliseconds=1)


def to_millisecond(value: dt.datetime) -> dt.datetime:
    """A point in time at the API's precision (dates are rendered with milliseconds)."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def now() -> dt.datetime:
    """`@now`: the current time in UTC at the precision timestamps are compared at."""
    return to_millisecond(dt.datetime.now(dt.timezone.utc))


def is_empty(value) -> bool:
    return value is None or value == "" or value is MISSING


def coerce(kind: str, value):
    """`value` as the Python type of a field of `kind`; raises NotComparable."""
    if value is None or value is MISSING:
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NotComparable
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise NotComparable
        return value
    if kind == "date":
        if isinstance(value, dt.datetime):
            return to_millisecond(value)
        if isinstance(value, str):
            if value == "":
                return value
            from apps.collections.field_types.date import parse_datetime

            try:
                return parse_datetime(value)
            except (ValueError, OverflowError):
                raise NotComparable from None
        raise NotComparable
    if kind in ("text", "list", "id"):
        if not isinstance(value, str):
            raise NotComparable
        return value
    if kind == "json":
        if value != "":
            raise NotComparable  # JSON fields compare with null only
        return value
    raise NotComparable


def compare(op: str, left, right) -> bool:
    """Two plain values (no field): the in-memory meaning of `left op right`."""
    if op in NEGATIVE:
        return not compare("=" if op == "!=" else "~", left, right)
    if is_empty(left) or is_empty(right):
        if op == "=":
            return is_empty(left) and is_empty(right)
        if op == "~":  # everything contains the empty string; only null has nothing
            return isinstance(left, str) and is_empty(right)
        return False
    if op == "~":
        return (
            isinstance(left, str)
            and isinstance(right, str)
            and fold(right) in fold(left)
        )
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers):
        pass
    elif type(left) is not type(right):
        if isinstance(left, dt.datetime) or isinstance(right, dt.datetime):
            try:
                left, right = coerce("date", left), coerce("date", right)
            except NotComparable:
                return False
        else:
            return False
    if op == "=":
        return left == right
    try:
        if op == ">":
            return left > right
        if op == ">=":
            return left >= right
        if op == "<":
            return left < right
        return left <= right
    except TypeError:
        return False
