"""Rules for collection and field names: clear refusals, no surprises later in SQL or URLs."""

from __future__ import annotations

import re

from apps.core.exceptions import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_NAME = 63

# Reserved in SQL (PostgreSQL and SQLite keywords that cannot be used bare).
SQL_KEYWORDS = frozenset(
    """
    abort action add after all alter always analyze and any array as asc attach
    authorization autoincrement before begin between both by cascade case cast check
    collate column commit conflict constraint create cross current current_date
    current_role current_time current_timestamp current_user database default
    deferrable deferred delete desc detach distinct do drop each else end escape except
    exclude exclusive exists explain fail false fetch filter first following for foreign
    from full generated glob group groups having if ignore immediate in index indexed
    initially inner insert instead intersect into is isnull join key last lateral leading
    left like limit localtime localtimestamp match materialized natural no not nothing
    notnull null nulls of offset on only or order others outer over partition plan
    pragma preceding primary query raise range recursive references regexp reindex
    release rename replace restrict returning right rollback row rows savepoint select
    session_user set some symmetric table temp temporary then ties to trailing
    transaction trigger true unbounded union unique update user using vacuum values
    variadic verbose view virtual when where window with without
    """.split()
)

# Names with a meaning of their own in the API or the expression language.
API_RESERVED = frozenset(
    {
        "id",
        "created",
        "updated",
        "collection",
        "collection_id",
        "collection_name",
        "expand",
        "fields",
        "filter",
        "sort",
        "limit",
        "cursor",
        "page",
        "count",
        "request",
        "auth",
        "now",
        "pk",
        "objects",
    }
)
AUTH_RESERVED = frozenset(
    {
        "email",
        "password",
        "password_confirm",
        "token",
        "token_key",
        "verified",
        "email_visibility",
        "last_login",
        "is_superuser",
        "is_staff",
        "is_active",
        "mfa",
        "passkeys",
        "tokens",
    }
)
COLLECTION_RESERVED = frozenset({"schema", "import", "batch", "users_auth"})


def name_key(name: str) -> str:
    """Names that differ only in case collide (e.g. `Title` and `title`)."""
    return name.lower()


def check_name(name, *, kind: str, param: str, reserved: frozenset[str] = frozenset()):
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"A {kind} needs a name.", code="required", param=param)
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"{kind.capitalize()} name {name[:20]!r}... is {len(name)} characters; "
            f"the limit is {MAX_NAME}.",
            code="name_too_long",
            param=param,
        )
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"{kind.capitalize()} name {name!r} must start with a letter and contain "
            "only ASCII letters, digits and underscores.",
            code="invalid_name",
            param=param,
        )
    key = name_key(name)
    if key in SQL_KEYWORDS:
        raise InvalidInput(
            f"{kind.capitalize()} name {name!r} is an SQL keyword; choose another.",
            code="reserved_name",
            param=param,
        )
    if key in reserved:
        raise InvalidInput(
            f"{kind.capitalize()} name {name!r} is reserved by the system; choose another.",
            code="reserved_name",
            param=param,
        )
    return name
