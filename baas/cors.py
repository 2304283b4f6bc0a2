"""Which browser origins may call the API (CORS): BAAS_CORS_ORIGINS, BAAS_CORS_CREDENTIALS.

django-cors-headers applies the policy (apps/core/cors.py); this reads and checks it, so
a mistake is one clear line at start-up rather than browsers failing later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

from baas.config import env, env_bool

#: Request headers browser apps may send: django-cors-headers' defaults (accept,
#: authorization, content-type, user-agent, x-csrftoken, x-requested-with) and ours.
ALLOW_HEADERS = (
    *default_headers,
    "idempotency-key",
    "if-match",
    "if-none-match",
    "x-session-token",  # allauth's `app` client before it has a token
    "last-event-id",
)

#: Response headers browser apps may read (API.md).
EXPOSE_HEADERS = (
    "ETag",
    "Retry-After",
    "Location",
    "Idempotent-Replayed",
    "WWW-Authenticate",
    "Content-Disposition",
)

#: Outside production, with BAAS_CORS_ORIGINS unset: a web app's development server on
#: this machine (http://localhost:5173, http://127.0.0.1:3000, ...).
LOCAL_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"


@dataclass(frozen=True)
class CorsPolicy:
    origins: list[str] = field(default_factory=list)
    origin_regexes: list[str] = field(default_factory=list)
    any_origin: bool = False
    credentials: bool = False


def _origin(value: str) -> str:
    """`scheme://host[:port]`, as browsers send it in `Origin`."""
    parts = urlsplit(value)
    if (
        not parts.scheme
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise ImproperlyConfigured(
            f"BAAS_CORS_ORIGINS: {value!r} is not an origin such as "
            "https://app.example.com or http://localhost:5173 (scheme, host and "
            "port only)."
        )
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def cors_policy(production: bool) -> CorsPolicy:
    """The policy the environment asks for; ImproperlyConfigured if it makes no sense."""
    raw = env("CORS_ORIGINS")
    credentials = env_bool("CORS_CREDENTIALS", False)
    if raw is None:
        regexes = [] if production else [LOCAL_ORIGINS]
        return CorsPolicy(origin_regexes=regexes, credentials=credentials)
    if raw.strip().lower() == "none":
        return CorsPolicy()
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if "*" in items:
        if len(items) > 1:
            raise ImproperlyConfigured(
                "BAAS_CORS_ORIGINS: `*` (any origin) cannot be listed with origins."
            )
        if credentials:
            raise ImproperlyConfigured(
                "BAAS_CORS_ORIGINS=* cannot be combined with BAAS_CORS_CREDENTIALS=true: "
                "any web page could act with the cookies of your users. List the origins."
            )
        return CorsPolicy(any_origin=True)
    return CorsPolicy(
        origins=list(dict.fromkeys(_origin(item) for item in items)),
        credentials=credentials,
    )
