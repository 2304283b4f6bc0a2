"""Console page: the effective configuration an operator cares about, read-only.
Secrets are never shown, only whether they are set; URLs lose their credentials."""

from __future__ import annotations

import importlib.metadata
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import path
from django.views.decorators.http import require_POST

from admin_ui.access import console_page
from admin_ui.views.features.push import provider_state
from apps.files import storage
from apps.hooks.registry import registry

ENGINES = {
    "apps.core.sqlite": "SQLite",
    "django.db.backends.sqlite3": "SQLite",
    "django.db.backends.postgresql": "PostgreSQL",
}


def is_set(value) -> str:
    return "set" if value else "not set"


def safe_url(url: str | None) -> str:
    """A URL without its user, password, query or fragment: scheme://host:port/path."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _version() -> str:
    try:
        return importlib.metadata.version("baas")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _database() -> list[tuple[str, str]]:
    db = settings.DATABASES["default"]
    engine = ENGINES.get(db["ENGINE"], db["ENGINE"])
    rows = [("Engine", engine)]
    if engine == "SQLite":
        rows.append(("File", str(db["NAME"])))
    else:
        host = db.get("HOST") or "localhost"
        rows += [
            ("Server", f"{host}:{db.get('PORT') or 5432}"),
            ("Database", str(db.get("NAME", ""))),
            ("User", str(db.get("USER", "")) or "—"),
            ("Password", is_set(db.get("PASSWORD"))),
            ("Connection pool", "on" if db.get("OPTIONS", {}).get("pool") else "off"),
        ]
    return rows


def _backend_name(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _services() -> list[tuple[str, str]]:
    cache = settings.CACHES["default"]["BACKEND"]
    layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    broker = settings.CELERY_BROKER_URL or ""
    return [
        ("Cache", _backend_name(cache)),
        ("Redis", safe_url(settings.REDIS_URL) or "not configured"),
        ("Realtime fan-out", _backend_name(layer)),
        ("Job broker", safe_url(broker) if "://" in broker else broker),
        ("Run jobs inline", "yes" if settings.CELERY_TASK_ALWAYS_EAGER else "no"),
    ]


def _storage() -> list[tuple[str, str]]:
    if storage.is_s3():
        options = settings.STORAGES["baas_files"].get("OPTIONS", {})
        return [
            ("Backend", "S3-compatible"),
            ("Bucket", settings.BAAS_S3_BUCKET),
            ("Endpoint", safe_url(settings.BAAS_S3_ENDPOINT) or "AWS"),
            ("Region", settings.BAAS_S3_REGION or "—"),
            ("Prefix", settings.BAAS_S3_PREFIX or "—"),
            ("Access key", is_set(options.get("access_key"))),
            ("Secret key", is_set(options.get("secret_key"))),
            ("Redirect downloads over", filesizeformat(settings.BAAS_S3_REDIRECT_SIZE)),
        ]
    return [
        ("Backend", "data directory"),
        ("Location", str(storage.store().location)),
        ("Largest upload", filesizeformat(settings.BAAS_MAX_UPLOAD_SIZE)),
    ]


MAIL_KINDS = {
    "smtp": "SMTP",
    "console": "console: printed, not sent",
    "filebased": "files",
    "locmem": "memory (tests)",
}


def mail_kind() -> str:
    module = settings.BAAS_EMAIL_DELIVERY_BACKEND.rsplit(".", 2)[-2]
    return MAIL_KINDS.get(module, settings.BAAS_EMAIL_DELIVERY_BACKEND)


def _mail() -> list[tuple[str, str]]:
    rows = [("Delivery", mail_kind()), ("From", settings.DEFAULT_FROM_EMAIL)]
    if ".smtp." in settings.BAAS_EMAIL_DELIVERY_BACKEND:
        security = (
            "SSL"
            if settings.EMAIL_USE_SSL
            else "STARTTLS"
            if settings.EMAIL_USE_TLS
            else "none"
        )
        rows += [
            ("SMTP server", f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"),
            ("Security", security),
            ("SMTP user", is_set(settings.EMAIL_HOST_USER)),
            ("SMTP password", is_set(settings.EMAIL_HOST_PASSWORD)),
        ]
    elif ".filebased." in settings.BAAS_EMAIL_DELIVERY_BACKEND:
        rows.append(("Folder", str(settings.EMAIL_FILE_PATH)))
    elif ".console." in settings.BAAS_EMAIL_DELIVERY_BACKEND:
        rows.append(("Where", "the worker's standard output: no mail leaves"))
    return rows


def _cors() -> list[tuple[str, str]]:
    if settings.CORS_ALLOW_ALL_ORIGINS:
        origins = "any origin"
    else:
        found = list(settings.CORS_ALLOWED_ORIGINS) + [
            f"regex {r}" for r in settings.CORS_ALLOWED_ORIGIN_REGEXES
        ]
        origins = ", ".join(found) or "none (same origin only)"
    return [
        ("Allowed origins", origins),
        ("Credentials", "allowed" if settings.CORS_ALLOW_CREDENTIALS else "no"),
        ("CSRF trusted origins", ", ".join(settings.CSRF_TRUSTED_ORIGINS) or "none"),
        ("Allowed hosts", ", ".join(settings.ALLOWED_HOSTS) or "none"),
    ]


def _rate_limits() -> list[tuple[str, str]] | None:
    limits = settings.ACCOUNT_RATE_LIMITS
    if limits is False:
        return None
    return sorted((action, rate or "off") for action, rate in limits.items())


def _security() -> list[tuple[str, str]]:
    return [
        ("SECRET_KEY", is_set(settings.SECRET_KEY)),
        ("JWT signing key", is_set(settings.JWT_PRIVATE_KEY)),
        (
            "Superusers need a second factor",
            "yes" if settings.BAAS_REQUIRE_SUPERUSER_MFA else "no",
        ),
        ("Access token lifetime", f"{settings.HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN} s"),
        ("Email verification", settings.ACCOUNT_EMAIL_VERIFICATION),
        ("Debug", "on" if settings.DEBUG else "off"),
    ]


def _context(request, **extra) -> dict:
    return {
        "general": [
            ("Version", _version()),
            ("Profile", settings.BAAS_ENV),
            ("Data directory", str(settings.DATA_DIR)),
            ("App name", settings.BAAS_APP_NAME),
        ],
        "database": _database(),
        "services": _services(),
        "storage": _storage(),
        "mail": _mail(),
        "cors": _cors(),
        "rate_limits": _rate_limits(),
        "security": _security(),
        "providers": provider_state(),
        "hooks_setting": list(settings.BAAS_HOOKS),
        "hooks_loaded": list(registry.modules),
        "test_to": request.user.email,
        "test_error": None,
        **extra,
    }


@console_page
def settings_page(request):
    return render(request, "admin_ui/settings/index.html", _context(request))


@console_page
@require_POST
def send_test_email(request):
    """Queue a test email through the server's own mail path (apps.core.mail: the
    worker sends it with the configured backend)."""
    to = request.POST.get("to", "").strip()
    try:
        validate_email(to)
    except ValidationError:
        context = _context(
            request, test_to=to, test_error="Enter a valid email address."
        )
        return render(request, "admin_ui/settings/index.html", context, status=400)
    send_mail(
        f"[{settings.BAAS_APP_NAME}] Test email",
        "This is a test email sent from the console's settings page.\n\n"
        "If you can read it, the server's mail settings work.",
        None,
        [to],
    )
    flash.success(
        request,
        f"Test email to {to} queued for the worker (delivery: {mail_kind()}).",
    )
    return redirect("console:settings")


urlpatterns = [
    path("settings/", settings_page, name="settings"),
    path("settings/test-email/", send_test_email, name="settings-test-email"),
]
