"""OpenAPI for auth: the bearer scheme, and allauth's own headless spec mounted under /api/v1.

The auth endpoints are allauth's plain Django views, not DRF ones, so drf-spectacular cannot
see them. allauth ships an OpenAPI description of its headless API; we take it, pinned to the
`app` client and re-rooted from `/_allauth/app/v1` to `/api/v1`, keep only the paths our URL
map really serves, and merge its components (allauth's request and response shapes, API.md).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml
from django.test.utils import override_settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.accounts.openapi_allauth import correct_components, correct_operations
from apps.core.openapi import BEARER, BEARER_SCHEME

ALLAUTH_PREFIX = "/_allauth/app/"
OUR_PREFIX = "/api/"


class BearerAuthenticationScheme(OpenApiAuthenticationExtension):
    """Lets annotated DRF views reference the same `bearer` scheme as the hook does."""

    target_class = "apps.accounts.authentication.BearerAuthentication"
    name = BEARER

    def get_security_definition(self, auto_schema):
        return BEARER_SCHEME


def _references(node) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            target = item.get("$ref")
            if isinstance(target, str) and target.startswith("#/components/"):
                kind, _, name = target[len("#/components/") :].partition("/")
                found.add((kind, name))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _prune_components(spec: dict) -> None:
    """Keep only components reachable from the kept paths (no WebAuthn when not served)."""
    components = spec.get("components", {})
    reachable: set[tuple[str, str]] = set()
    pending = _references(spec["paths"])
    while pending:
        kind, name = pending.pop()
        if (kind, name) in reachable or name not in components.get(kind, {}):
            continue
        reachable.add((kind, name))
        pending |= _references(components[kind][name])
    for kind, items in components.items():
        for name in list(items):
            if (kind, name) not in reachable:
                del items[name]


def _specify_login_methods(spec: dict) -> None:
    """allauth describes login by username, email or phone; keep the methods configured."""
    from allauth.account import app_settings as account_settings

    methods = set(account_settings.LOGIN_METHODS)
    login = spec["components"]["schemas"].get("Login", {})
    for index, part in enumerate(login.get("allOf", [])):
        if "anyOf" not in part:
            continue
        kept = [alt for alt in part["anyOf"] if set(alt.get("required", [])) & methods]
        if len(kept) == 1:
            kept[0].pop("title", None)
            login["allOf"][index] = {"type": "object", **kept[0]}
        elif kept:
            part["anyOf"] = kept


@functools.lru_cache(maxsize=1)
def _allauth_spec() -> dict:
    """allauth's spec for what this server serves; static per process (settings, URL map)."""
    from allauth.headless.spec.internal import schema as allauth_schema

    path = Path(allauth_schema.__file__).parent.parent / "doc" / "openapi.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    allauth_schema.specify_user(spec)
    # The document describes the `app` client (mobile apps, API.md); the browser client
    # serves the same flows under /api/browser/v1 with a session cookie.
    with override_settings(HEADLESS_CLIENTS=("app",)):
        allauth_schema.pin_client(spec)  # {client} -> app; drops the client parameter
        allauth_schema.drop_unused_client_parameter(spec)
        spec["paths"] = {
            (
                OUR_PREFIX + p[len(ALLAUTH_PREFIX) :]
                if p.startswith(ALLAUTH_PREFIX)
                else p
            ): item
            for p, item in spec["paths"].items()
        }
        # (resolves each path in our URL map)
        used_tags = allauth_schema.drop_unused_paths(spec)
    for path, item in spec["paths"].items():
        slug = path[len("/api/v1/") :].replace("/", "_").replace("-", "_")
        for method, operation in item.items():
            operation.setdefault(
                "operationId", f"{slug}_{method}"
            )  # SDK generators need one
    allauth_schema.drop_unused_tags(spec, used_tags)
    allauth_schema.specify_signup_fields(spec)
    allauth_schema.specify_custom_signup_form(spec)
    _specify_login_methods(spec)
    correct_components(spec)
    correct_operations(spec)
    _prune_components(spec)
    return spec


def add_auth_paths(result: dict) -> None:
    """Merge allauth's paths, components and tags; never overwrite what is already there."""
    spec = copy.deepcopy(_allauth_spec())
    paths = result.setdefault("paths", {})
    for path, item in spec["paths"].items():
        target = paths.setdefault(path, {})
        for method, operation in item.items():
            target.setdefault(method, operation)
    components = result.setdefault("components", {})
    for kind, items in spec.get("components", {}).items():
        section = components.setdefault(kind, {})
        for name, value in items.items():
            if section.setdefault(name, value) != value:
                raise RuntimeError(f"OpenAPI component {kind}/{name} is defined twice.")
    tags = result.setdefault("tags", [])
    known = {tag["name"] for tag in tags}
    tags.extend(tag for tag in spec.get("tags", []) if tag["name"] not in known)
    add_account_paths(result)
    correct_operations(result)


# --- guest accounts, account deletion, GDPR export (apps.accounts.api.*_views) ------------

_ACCOUNT_TAG = "Account: guests, deletion, export"


def _allauth_ref(kind: str, name: str, fallback: dict, result: dict) -> dict:
    """A reference to one of allauth's components when the document has it."""
    if name in result.get("components", {}).get(kind, {}):
        return {"$ref": f"#/components/{kind}/{name}"}
    return fallback


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def add_account_paths(result: dict) -> None:
    """Describe the account endpoints (allauth headless views, not DRF ones)."""
    from apps.core.openapi import add_operation, add_tag

    add_tag(
        result,
        _ACCOUNT_TAG,
        "Anonymous guest accounts and their upgrade, deleting one's own account, and "
        "downloading everything stored about it.",
    )
    user = _allauth_ref("schemas", "User", {"type": "object"}, result)
    authenticated = _allauth_ref(
        "responses", "Authenticated", {"description": "Signed in."}, result
    )
    signed_out = _allauth_ref(
        "responses", "Authentication", {"description": "Not signed in."}, result
    )
    reauthenticate = _allauth_ref(
        "responses",
        "AuthenticationOrReauthentication",
        {"description": "Reauthenticate first (POST /api/v1/auth/reauthenticate)."},
        result,
    )
    allauth_error = _allauth_ref(
        "schemas", "ErrorResponse", {"$ref": "#/components/schemas/Error"}, result
    )
    limited = _error("Too many requests; retry after `Retry-After` seconds.")
    limited["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    secured = [{"bearer": []}]
    add_operation(
        result,
        "/api/v1/auth/guest",
        "post",
        {
            "operationId": "auth_guest_post",
            "summary": "Sign in as a new guest (anonymous) account",
            "description": "No body. Creates an account with no email and no usable "
            "password and signs it in: the answer is the login answer, with "
            "`access_token` and `refresh_token` in `meta` and `user.is_guest` true.",
            "tags": [_ACCOUNT_TAG],
            "security": [],
            "responses": {
                "200": _allauth_ref(
                    "responses", "AuthenticatedByPassword", authenticated, result
                ),
                "403": _error("Sign-up is closed."),
                "409": _error("Already signed in."),
                "429": limited,
            },
        },
    )
    add_operation(
        result,
        "/api/v1/auth/guest/upgrade",
        "post",
        {
            "operationId": "auth_guest_upgrade_post",
            "summary": "Turn the signed-in guest into a full account (same id)",
            "description": "With mandatory email verification (the default) the answer "
            "is 202 and a code is mailed to the address; confirm it with "
            "`POST /api/v1/auth/email/verify {key}` (same token) to finish. The answer "
            "is the same whether or not the address belongs to another account.",
            "tags": [_ACCOUNT_TAG],
            "security": secured,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "email": {"type": "string", "format": "email"},
                                "password": {
                                    "type": "string",
                                    "format": "password",
                                    "maxLength": 256,
                                },
                            },
                            "required": ["email", "password"],
                        }
                    }
                },
            },
            "responses": {
                # (at once, when email verification is not mandatory)
                "200": authenticated,
                "202": {
                    "description": "A verification code was mailed; the account stays "
                    "a guest until it is confirmed.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "integer", "enum": [202]},
                                    "data": {
                                        "type": "object",
                                        "properties": {
                                            "user": user,
                                            "email": {"type": "string"},
                                            "flows": {
                                                "type": "array",
                                                "items": {"type": "object"},
                                            },
                                        },
                                    },
                                    "meta": {"type": "object"},
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "Invalid email or password.",
                    "content": {"application/json": {"schema": allauth_error}},
                },
                "401": signed_out,
                "403": _error("The account is not a guest."),
                "429": limited,
            },
        },
    )
    add_operation(
        result,
        "/api/v1/account",
        "delete",
        {
            "operationId": "account_delete",
            "summary": "Delete one's own account",
            "description": "Needs a recent reauthentication (`POST "
            "/api/v1/auth/reauthenticate`), except for accounts that have nothing to "
            "reauthenticate with (guests). Records that point at the account are "
            "deleted or block the deletion as their relation fields say.",
            "tags": [_ACCOUNT_TAG],
            "security": secured,
            "responses": {
                "204": {"description": "Deleted; every device is signed out."},
                "401": reauthenticate,
                "403": _error("A cascade would delete a superuser's account."),
                "409": _error(
                    "A relation without cascade points at the account "
                    "(`relation_restrict`), or this is the last superuser "
                    "(`last_superuser`). Nothing was deleted."
                ),
            },
        },
    )
    add_operation(
        result,
        "/api/v1/account/export",
        "get",
        {
            "operationId": "account_export_get",
            "summary": "Download everything stored about one's own account (GDPR)",
            "tags": [_ACCOUNT_TAG],
            "security": secured,
            "responses": {
                "200": {
                    "description": "A JSON attachment.",
                    "headers": {
                        "Content-Disposition": {
                            "schema": {"type": "string"},
                            "description": 'attachment; filename="account-<id>-<date>.json"',
                        }
                    },
                    "content": {"application/json": {"schema": _EXPORT_SCHEMA}},
                },
                "401": signed_out,
                "429": limited,
            },
        },
    )


_LIST = {"type": "array", "items": {"type": "object"}}
_EXPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "format": {"type": "string", "enum": ["baas.account-export.v1"]},
        "exported_at": {"type": "string", "format": "date-time"},
        "user": {
            "type": "object",
            "description": "The `users` record with every field.",
        },
        "account": {"type": "object"},
        "email_addresses": _LIST,
        "social_accounts": _LIST,
        "authenticators": _LIST,
        "sessions": _LIST,
        "collections": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "collection": {"type": "string"},
                    "fields": {"type": "array", "items": {"type": "string"}},
                    "records": _LIST,
                },
            },
        },
    },
}
