"""allauth's description of its headless API, corrected to what this server answers.

allauth ships an OpenAPI document of its API (apps.accounts.openapi mounts it under
/api/v1), but parts of it are not what its views answer; a linter (Redocly) and a
conformance run (schemathesis, tests/e2e/test_api_conformance.py) both notice. Each
correction below was checked against a live server:

- flows carry the ids allauth really sends (its own `Flow` enum: `mfa_login_webauthn`,
  `password_reset_by_code`, ...), `is_pending: false`, and provider flows' `providers`;
- `meta.is_authenticated` is false, or null where a flow has no user at all (a pending
  step without its session, a stale `X-Session-Token`); true in 200 answers and in the
  "reauthenticate first" 401 only;
- a 401 for "not signed in" carries only `flows`; "reauthenticate first" adds `user` and
  `methods`; a view that needs a signed-in user may answer either;
- every app-client view answers 410 to an unknown or expired `X-Session-Token`, 429 (in
  the error envelope, with `Retry-After`) where a rate limit applies, and allauth's bare
  `{"status": 4xx}` answers reach clients in the error envelope
  (apps.core.middleware.ErrorEnvelopeMiddleware);
- `security` is `[]` for public operations and the bearer scheme where a signed-in user
  is needed;
- schema and example slips (an undefined required property, `nullable` beside `$ref`,
  overlapping `oneOf` branches, examples that do not fit their schemas).
"""

from __future__ import annotations

import copy
import functools

from allauth.headless.base.views import (
    APIView,
    AuthenticatedAPIView,
    AuthenticationStageAPIView,
)
from allauth.headless.constants import Flow
from django.urls import Resolver404, resolve

from apps.accounts.ratelimit import ENDPOINT_ACTIONS

SCHEMAS = "#/components/schemas/"
RESPONSES = "#/components/responses/"
ERROR = {"$ref": SCHEMAS + "Error"}
BEARER = [{"bearer": []}]
BEARER_OR_ANONYMOUS = [{"bearer": []}, {}]
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

# allauth's answers without `errors` that the error-envelope middleware rewrites.
BARE_STATUS_SCHEMAS = ("ConflictResponse", "ForbiddenResponse")
# Endpoints (after /api/v1/) whose writes can answer 429: those the rate-limit middleware
# knows, and those limited by allauth alone (passkey login, code resends).
RATE_LIMITED = frozenset(ENDPOINT_ACTIONS) | {
    "auth/webauthn/login",
    "auth/code/resend",
    "auth/email/verify/resend",
}
# Operations that serve both a signed-in user and a flow without one.
OPTIONAL_SIGN_IN = {
    ("/api/v1/auth/session", "get"),  # 200 signed in, 401 not
    ("/api/v1/account/email", "post"),  # also changes the address of a pending sign-up
}
# Operations that need a signed-in user without allauth's AuthenticatedAPIView.
SIGNED_IN = {
    ("/api/v1/auth/session", "delete"),  # sign out (answers 401 once signed out)
    ("/api/v1/account/email", "get"),
    ("/api/v1/account/email", "put"),
    ("/api/v1/account/email", "patch"),
    ("/api/v1/account/email", "delete"),
}
# Answers allauth's document leaves out: (path, method) -> {status: response}.
UNDESCRIBED = {
    ("/api/v1/account/password/change", "post"): {
        "200": {"$ref": RESPONSES + "Authenticated"}  # with a new token pair
    },
    ("/api/v1/account/authenticators/recovery-codes", "post"): {
        "200": {"$ref": RESPONSES + "RecoveryCodes"}
    },
    ("/api/v1/auth/code/request", "post"): {
        "200": {"$ref": RESPONSES + "Authenticated"}  # already signed in
    },
    ("/api/v1/tokens/refresh", "post"): {  # apps.accounts.api.token_views
        "401": {
            "description": "`invalid_token`: the refresh token is invalid, expired, "
            "revoked or already used; sign in again.",
            "content": {"application/json": {"schema": ERROR}},
        }
    },
}


# --- components -----------------------------------------------------------------------


def correct_components(spec: dict) -> None:
    """Schemas, responses and examples of allauth's document, as the views answer."""
    schemas = spec["components"]["schemas"]
    _correct_flows(schemas)
    _correct_meta(schemas)
    _correct_schemas(schemas)
    _envelope_bare_statuses(spec)
    _correct_responses(spec["components"]["responses"])
    _correct_examples(spec)


def _correct_flows(schemas: dict) -> None:
    flow = schemas["Flow"]["properties"]
    flow["id"] = {"type": "string", "enum": [item.value for item in Flow]}
    flow["is_pending"] = {
        "type": "boolean",
        "description": "Whether this flow is under way (e.g. a code was sent and awaits "
        "entry).",
    }
    flow["providers"] = {
        "type": "array",
        "items": {"$ref": SCHEMAS + "ProviderID"},
        "description": "`provider_redirect` and `provider_token`: the providers offering "
        "the flow.",
    }


def _correct_meta(schemas: dict) -> None:
    schemas["BaseAuthenticationMeta"]["properties"]["refresh_token"] = {
        "type": "string",
        "description": "With every sign-in: trade it for a new access token at "
        "`POST /api/v1/tokens/refresh`.",
    }
    not_signed_in = {
        "type": "boolean",
        "nullable": True,
        "enum": [False, None],
        "description": "Not signed in: false, or null when the answer concerns a flow "
        "without any user (a step whose session is gone).",
    }
    schemas["AuthenticationMeta"]["allOf"][1]["properties"]["is_authenticated"] = (
        not_signed_in
    )
    # A 200 answer is signed in: the same meta as the reauthentication 401.
    schemas["AuthenticatedResponse"]["properties"]["meta"] = {
        "$ref": SCHEMAS + "AuthenticatedMeta"
    }
    schemas["SessionGoneResponse"]["properties"]["data"] = {
        "type": "object",
        "properties": {
            "flows": {"type": "array", "items": {"$ref": SCHEMAS + "Flow"}},
        },
    }


def _correct_schemas(schemas: dict) -> None:
    schemas["AccountConfiguration"]["properties"]["authentication_method"] = {
        "type": "string",
        "enum": ["email", "username", "username_email"],
        "deprecated": True,
        "description": "`login_methods` in an older form; kept by allauth for older "
        "clients.",
    }
    methods = schemas["AuthenticationMethod"]
    # A password reauthentication also fits "authenticated by password": anyOf, not oneOf.
    methods["anyOf"] = methods.pop("oneOf")
    for method in methods["anyOf"]:
        properties = method.get("properties", {})
        method["required"] = [p for p in method.get("required", []) if p in properties]
    for name, schema in schemas.items():
        parts = schema.get("allOf")
        if parts and len(parts) == 1 and set(schema) == {"allOf"}:
            schemas[name] = parts[0]
    schemas["OptionalTimestamp"] = {
        **{k: v for k, v in schemas["Timestamp"].items() if k != "example"},
        "nullable": True,
    }


def _envelope_bare_statuses(spec: dict) -> None:
    """`{"status": 409}` and the like reach clients in the error envelope."""
    targets = {SCHEMAS + name for name in BARE_STATUS_SCHEMAS}

    def walk(node):
        if isinstance(node, dict):
            if node.get("$ref") in targets:
                node["$ref"] = ERROR["$ref"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec["paths"])
    walk(spec["components"]["responses"])
    responses = spec["components"]["responses"]
    responses["NotFound"]["content"]["application/json"]["schema"] = dict(ERROR)
    responses["TooManyRequests"] = {
        "description": "Too many requests (`rate_limited`); retry after `Retry-After` "
        "seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        "content": {"application/json": {"schema": dict(ERROR)}},
    }


def _correct_responses(responses: dict) -> None:
    # (a reauthentication answer is not a "not authenticated" one)
    responses["Authentication"]["content"]["application/json"]["examples"].pop(
        "reauthentication_required", None
    )
    responses["SessionGone"]["content"]["application/json"]["examples"] = {
        "session_gone": {
            "summary": "The session token is unknown or expired",
            "value": {
                "status": 410,
                "data": {"flows": [{"id": "login"}, {"id": "signup"}]},
                "meta": {"is_authenticated": None},
            },
        }
    }
    either = responses["AuthenticationOrReauthentication"]
    either["description"] = (
        "Not signed in (`data` has the `flows` to sign in; `meta.is_authenticated` "
        "false), or a recent reauthentication is needed first (`data` adds `user` and "
        "`methods`, `flows` lists the ways to reauthenticate; `meta.is_authenticated` "
        "true)."
    )
    content = either["content"]["application/json"]
    # The branches differ in `meta.is_authenticated`, which Redocly's overlap check
    # does not look at; anyOf says the same without the claim it cannot verify.
    content["schema"] = {"anyOf": content["schema"]["oneOf"]}
    reauthenticate = responses["ReauthenticationRequired"]["content"][
        "application/json"
    ]
    content["examples"] = {
        "not_signed_in": {"$ref": "#/components/examples/UnauthenticatedInitial"},
        **reauthenticate["examples"],
    }


def _correct_examples(spec: dict) -> None:
    examples = spec["components"]["examples"]
    user = examples["User"]["value"]
    user.setdefault("is_guest", False)

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "user" and isinstance(value, dict) and "display" in value:
                    node[key] = copy.deepcopy(user)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(examples)
    walk(spec["components"]["responses"])
    examples["CannotGenerateRecoveryCodes"]["value"]["errors"] = [
        {
            "message": "You cannot generate recovery codes without having two-factor "
            "authentication enabled.",
            "code": "cannot_generate_recovery_codes",
        }
    ]
    configuration = spec["components"]["schemas"]["ConfigurationResponse"]["example"]
    configuration["data"]["account"] = {
        "login_methods": ["email"],
        "is_open_for_signup": True,
        "email_verification_by_code_enabled": True,
        "login_by_code_enabled": True,
        "password_reset_by_code_enabled": True,
        "authentication_method": "email",
    }


# --- operations -------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _view_class(path: str) -> type | None:
    """The class-based view serving a (parameterless) path, through its decorators."""
    if "{" in path:
        return None
    try:
        func = resolve(path).func
    except Resolver404:
        return None
    while func is not None:
        view_class = getattr(func, "view_class", None)
        if view_class is not None:
            return view_class
        func = getattr(func, "__wrapped__", None)
    return None


def _needs_sign_in(path: str, method: str, view_class: type) -> bool:
    if (path, method) in OPTIONAL_SIGN_IN:
        return False
    return issubclass(view_class, AuthenticatedAPIView) or (path, method) in SIGNED_IN


def correct_operations(result: dict) -> None:
    """Security and statuses of every operation served by an allauth (app client) view.

    Idempotent: run on allauth's paths before unused components are pruned, and again
    on the whole document for the account paths described by apps.accounts.openapi.
    """
    for path, item in result.get("paths", {}).items():
        view_class = _view_class(path)
        if view_class is None or not issubclass(view_class, APIView):
            continue
        endpoint = path.removeprefix("/api/v1/")
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            signed_in = _needs_sign_in(path, method, view_class)
            if (path, method) in OPTIONAL_SIGN_IN:
                operation.setdefault("security", BEARER_OR_ANONYMOUS)
            operation.setdefault("security", BEARER if signed_in else [])
            responses = operation["responses"]
            for status, response in UNDESCRIBED.get((path, method), {}).items():
                responses.setdefault(status, copy.deepcopy(response))
            if "requestBody" in operation:  # the body's fields are validated
                responses.setdefault("400", {"$ref": RESPONSES + "Error"})
            if signed_in and (path, method) != ("/api/v1/auth/session", "delete"):
                responses["401"] = {
                    "$ref": RESPONSES + "AuthenticationOrReauthentication"
                }
            elif issubclass(view_class, AuthenticationStageAPIView):
                # (a second-factor step asked for with no sign-in under way)
                responses.setdefault("401", {"$ref": RESPONSES + "Authentication"})
            responses.setdefault("410", {"$ref": RESPONSES + "SessionGone"})
            if method != "get" and endpoint in RATE_LIMITED:
                responses.setdefault("429", {"$ref": RESPONSES + "TooManyRequests"})
