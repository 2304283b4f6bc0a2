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
