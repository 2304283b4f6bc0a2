"""Rules for collection and field names: clear refusals, no surprises later in URLs or
expressions.

Names never reach SQL: tables and columns are named by stable ids (`c_<id>`, `f_<id>`) and
quoted, so words SQL reserves (`order`, `user`, `group`, `from`...) are fine names. What is
refused collides with the API: system fields, query parameters, words of the expression
language."""

from __future__ import annotations

import re

from apps.core.exceptions import InvalidInput

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_NAME = 63

# Field names with a meaning of their own in the API or the expression language.
API_RESERVED = frozenset(
    {
        "true",
        "false",
        "null",
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
    if name_key(name) in reserved:
        raise InvalidInput(
            f"{kind.capitalize()} name {name!r} is reserved by the system; choose another.",
            code="reserved_name",
            param=param,
        )
    return name
