"""Django settings: one environment-driven configuration with embedded defaults (docs/configuration.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from baas.config import (
    PLACEHOLDER_SECRETS,
    data_dir,
    env,
    env_bool,
    env_int,
    env_list,
    generate_rsa_private_key,
    generate_secret_key,
    is_rsa_private_key,
    persistent_secret,
    rate_limits_from_env,
    social_providers_from_env,
)
from baas.cors import ALLOW_HEADERS, EXPOSE_HEADERS, cors_policy

BAAS_ENV = env("ENV", "development")
PRODUCTION = BAAS_ENV == "production"
DATA_DIR = data_dir()
TESTING = "pytest" in sys.modules or env_bool("TESTING", False)

# --- secrets ------------------------------------------------------------------------
SECRET_KEY = env("SECRET_KEY") or ""
if PRODUCTION:
    if (
        SECRET_KEY.strip().lower() in PLACEHOLDER_SECRETS
        or len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5  # "xxxx...": Django's check --deploy (W009) rule
        or SECRET_KEY.startswith("django-insecure-")
    ):
        raise ImproperlyConfigured(
            "BAAS_SECRET_KEY must be set to a random value of at least 50 characters "
            "when BAAS_ENV=production."
        )
elif not SECRET_KEY:
    SECRET_KEY = persistent_secret("secret_key", generate_secret_key)

JWT_PRIVATE_KEY = env("JWT_PRIVATE_KEY") or ""
if JWT_PRIVATE_KEY and not is_rsa_private_key(JWT_PRIVATE_KEY):
    # Refuse now rather than fail every login later.
    raise ImproperlyConfigured(
        "BAAS_JWT_PRIVATE_KEY must be an unencrypted RSA private key in PEM "
        "(-----BEGIN PRIVATE KEY----- ...)."
    )
if not JWT_PRIVATE_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "BAAS_JWT_PRIVATE_KEY (an RSA private key in PEM) must be set when "
            "BAAS_ENV=production."
        )
    JWT_PRIVATE_KEY = persistent_secret("jwt_private_key.pem", generate_rsa_private_key)

DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- CORS (docs/configuration.md): browser apps on other origins ------------------------
_cors = cors_policy(PRODUCTION)
CORS_ALLOWED_ORIGINS = _cors.origins
CORS_ALLOWED_ORIGIN_REGEXES = _cors.origin_regexes
CORS_ALLOW_ALL_ORIGINS = _cors.any_origin
CORS_ALLOW_CREDENTIALS = _cors.credentials
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_HEADERS = ALLOW_HEADERS
CORS_EXPOSE_HEADERS = EXPOSE_HEADERS

# --- apps -----------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.apple",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.headless",
    "apps.core",
    "apps.accounts",
    "apps.collections",
    "apps.records",
    "apps.files",
    "apps.realtime",
    "apps.rules",
    "apps.hooks",
    "apps.push",
    "django_celery_beat",
    "django_htmx",
    "admin_ui",
]

MIDDLEWARE = [
    # CORS headers on every answer below it, errors and record routes included.
    "apps.core.cors.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.static.StaticFilesMiddleware",  # WhiteNoise
    "apps.core.middleware.GZipMiddleware",
    "apps.core.middleware.ErrorEnvelopeMiddleware",
    "apps.core.middleware.BodySizeLimitMiddleware",
    "apps.core.idempotency.IdempotencyMiddleware",  # inside gzip/envelope: replays too
    # allauth's rate-limit answers -> 429 `rate_limited` + Retry-After (inside
    # idempotency, so a 429 is never stored and replayed).
    "apps.accounts.ratelimit.RateLimitResponseMiddleware",
    # Record routes are answered here: what follows serves cookie sessions only.
    "apps.records.api.record_routes.RecordRoutesMiddleware",
    # Code checks lock their flow's session, read to saved (outside SessionMiddleware).
    "apps.accounts.codelock.CodeAttemptLockMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx (the console)
]

ROOT_URLCONF = "baas.urls"
WSGI_APPLICATION = "baas.wsgi.application"
ASGI_APPLICATION = "baas.asgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: our account emails override allauth's wording.
        "DIRS": [Path(__file__).resolve().parent.parent / "apps/accounts/templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "admin_ui.nav.context",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})
        if env_bool("DB_POOL", True):
            DATABASES["default"]["OPTIONS"]["pool"] = {
                "min_size": env_int("DB_POOL_MIN", 1),
                "max_size": env_int("DB_POOL_MAX", 10),
                "timeout": 10,
            }
else:
    DATABASES = {
        "default": {
            "ENGINE": "apps.core.sqlite",
            "NAME": DATA_DIR / "data.sqlite3",
            # One connection per thread, kept: opening one and its PRAGMAs per request
            # cost more than most requests.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA temp_store=MEMORY;"
                    "PRAGMA cache_size=-16000;"
                    "PRAGMA journal_size_limit=200000000;"
                    # Server processes checkpoint in the background every second
                    # (apps/core/sqlite/checkpoint.py); this is the ceiling without.
                    "PRAGMA wal_autocheckpoint=10000;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, channel layer, broker -----------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
elif TESTING:
    # In-process tests clear it between tests; the e2e tests run the database cache.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    # Rate limits live in the cache, so it must be shared by every process of
    # `baas serve`: the database, not process memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "baas_cache",
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The embedded broker: a table in the data directory with real acknowledgement
# (apps/core/broker.py, selected by the `baas+` prefix; kombu's own `sqla+` transport
# loses the messages of a worker that dies).
CELERY_BROKER_URL = (
    env("BROKER_URL") or REDIS_URL or (f"baas+sqlite:///{DATA_DIR / 'broker.sqlite3'}")
)
# Seconds a worker may hold a message before the broker gives it to another worker (a
# worker that died never acknowledges it): longer than any task, countdown or ETA.
BAAS_BROKER_VISIBILITY_TIMEOUT = max(env_int("BROKER_VISIBILITY_TIMEOUT", 3600), 1)
# In-process tests run tasks inline; the e2e tests run real workers.
CELERY_TASK_ALWAYS_EAGER = TESTING
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Schedules live in the database (django-celery-beat): they survive restarts and can be
# changed at run time (/api/v1/schedules); hooks' @cron entries are written there.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# What tasks print (the console mail backend) goes to the worker's stdout as it is, not
# into the log as warnings.
CELERY_WORKER_REDIRECT_STDOUTS = False
# Celery 6's default, set now (and its deprecation warning gone): a task that cannot be
# acknowledged after a lost broker connection is cancelled and delivered again.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
if CELERY_BROKER_URL.startswith("baas+"):
    from kombu.transport import TRANSPORT_ALIASES

    # What `baas+` selects (apps.core.broker.register(); imported at first connection).
    TRANSPORT_ALIASES["baas"] = "apps.core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": BAAS_BROKER_VISIBILITY_TIMEOUT,
    }
if CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than any task or ETA, or Redis redelivers the task while it still runs.
        "visibility_timeout": BAAS_BROKER_VISIBILITY_TIMEOUT,
        # A publish to a broker that is down fails at once (kombu's default retries
        # for seconds); the outbox keeps the task (apps.core.outbox).
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "socket_connect_timeout": 2,
    }
# Seconds between runs of the beat task that publishes what the outbox kept.
BAAS_OUTBOX_INTERVAL = max(env_int("OUTBOX_INTERVAL", 15), 1)
# Server-side code (API.md "Hooks, jobs and webhooks"): dotted module paths imported at
# start-up by every process, besides the modules in <data dir>/hooks/.
BAAS_HOOKS = env_list("HOOKS", [])
# Finished job runs (/api/v1/jobs) are kept this many days.
BAAS_JOBS_RETENTION_DAYS = max(env_int("JOBS_RETENTION_DAYS", 7), 1)

# --- auth ------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
# none / optional / mandatory (docs/auth.md). Only "mandatory" keeps sign-up from
# revealing whether an address has an account (the new account is not signed in at once).
# Mandatory verification is by a code the app's user types in.
ACCOUNT_EMAIL_VERIFICATION = env("EMAIL_VERIFICATION", "mandatory")
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = ACCOUNT_EMAIL_VERIFICATION == "mandatory"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False  # the other devices are signed out instead
BAAS_APP_NAME = env("APP_NAME", "BaaS")
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{BAAS_APP_NAME}] "
ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND = True
ACCOUNT_LOGIN_BY_CODE_SUPPORTS_RESEND = True
# Per IP and per account (key); IPs come from REMOTE_ADDR unless proxies are trusted.
# BAAS_RATE_LIMITS overrides them (docs/configuration.md).
ACCOUNT_RATE_LIMITS = rate_limits_from_env(
    {
        "login": "30/m/ip",
        "login_failed": "10/m/ip,5/5m/key",
        "signup": "20/m/ip",
        "reset_password": "20/m/ip,5/m/key",
        "reset_password_from_key": "20/m/ip",
        "request_login_code": "20/m/ip,3/m/key",
        "confirm_email": "1/3m/key",
        "change_password": "5/m/user",
        "manage_email": "10/m/user",
        "reauthenticate": "10/m/ip",
        "guest": "10/m/ip",  # guest accounts created (apps.accounts.guests)
        "account_export": "5/h/user",  # GDPR exports (apps.accounts.export)
    }
)
if ACCOUNT_RATE_LIMITS is False:
    MFA_RATE_LIMITS = False  # (passkey logins: allauth.mfa's own limit)
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
SESSION_ENGINE = "django.contrib.sessions.backends.db"

SOCIALACCOUNT_ADAPTER = "apps.accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # never sign in to an account by email alone
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = social_providers_from_env()

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_PASSKEY_SIGNUP_ENABLED = False
MFA_TOTP_ISSUER = BAAS_APP_NAME
MFA_ADAPTER = "apps.accounts.mfa.MFAAdapter"
# Passkeys (WebAuthn, docs/auth.md): the relying party id is the domain passkeys belong
# to, for mobile apps their associated domain (apple-app-site-association, assetlinks);
# empty: the host the request came to. Origins: clientDataJSON origins accepted besides
# https://<rp id> and its subdomains, e.g. android:apk-key-hash:<base64url sha256>.
BAAS_WEBAUTHN_RP_ID = env("WEBAUTHN_RP_ID", "")
BAAS_WEBAUTHN_RP_NAME = env("WEBAUTHN_RP_NAME", BAAS_APP_NAME)
BAAS_WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", [])
# Outside production also plain http://<rp id> (apps.accounts.mfa.origin_allowed).
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not PRODUCTION
# Superusers must have a second factor before their tokens open operator endpoints.
BAAS_REQUIRE_SUPERUSER_MFA = env_bool("REQUIRE_SUPERUSER_MFA", PRODUCTION)

USERSESSIONS_TRACK_ACTIVITY = False  # last use is kept by the refresh endpoint instead

HEADLESS_ONLY = True
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_TOKEN_STRATEGY = "apps.accounts.tokens.TokenStrategy"
HEADLESS_ADAPTER = "apps.accounts.adapters.HeadlessAdapter"
HEADLESS_JWT_PRIVATE_KEY = JWT_PRIVATE_KEY
HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN = min(env_int("JWT_ACCESS_TTL", 900), 900)
HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN = env_int("JWT_REFRESH_TTL", 30 * 86400)
HEADLESS_JWT_ROTATE_REFRESH_TOKEN = True
HEADLESS_SERVE_SPECIFICATION = False
HEADLESS_FRONTEND_URLS = {
    key: env(f"FRONTEND_{key.upper()}_URL")
    for key in (
        "account_confirm_email",
        "account_reset_password_from_key",
        "account_signup",
        "socialaccount_login_error",
    )
    if env(f"FRONTEND_{key.upper()}_URL")
}
# A device session lives as long as its refresh token can.
SESSION_COOKIE_AGE = HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN
JWT_AUDIENCE = "baas:app"

# Mail is queued and sent by a Celery worker (apps.core.mail) through Django's backend.
EMAIL_BACKEND = "apps.core.mail.QueuedEmailBackend"
BAAS_EMAIL_DELIVERY_BACKEND = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "memory": "django.core.mail.backends.locmem.EmailBackend",
}[env("EMAIL_BACKEND", "smtp" if env("SMTP_HOST") else "console")]
EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_HOST = env("SMTP_HOST", "localhost")
EMAIL_PORT = env_int("SMTP_PORT", 25)
EMAIL_HOST_USER = env("SMTP_USER", "")
EMAIL_HOST_PASSWORD = env("SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("SMTP_SSL", False)
EMAIL_TIMEOUT = env_int("SMTP_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env("EMAIL_FROM", "no-reply@localhost")

# --- REST -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerAuthentication"
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.IsSuperuserOrKey"],
    "DEFAULT_RENDERER_CLASSES": ["apps.core.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BaaS API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from our own static files (drf-spectacular-sidecar): /api/docs works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.records.api.openapi.add_collection_paths",
        "apps.files.api.openapi.add_file_paths",
        "apps.realtime.api.openapi.add_realtime_paths",
        "apps.hooks.api.openapi.add_function_paths",
        "apps.hooks.api.webhook_openapi.add_webhook_paths",
        "apps.push.api.openapi.add_push_paths",
    ],
}

# --- limits, security -------------------------------------------------------------------
BAAS_MAX_BODY_SIZE = env_int("MAX_BODY_SIZE", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = BAAS_MAX_BODY_SIZE
BAAS_MAX_JSON_DEPTH = env_int("MAX_JSON_DEPTH", 32)
# Stored responses for Idempotency-Key: at least 24 h (API.md), pruned by a beat task.
BAAS_IDEMPOTENCY_TTL = max(env_int("IDEMPOTENCY_TTL", 86400), 86400)
# Delta sync tombstones (apps.records.changelog): older ones are pruned by a beat task.
BAAS_CHANGES_RETENTION_DAYS = max(env_int("CHANGES_RETENTION_DAYS", 30), 1)
# The audit log (apps.hooks.audit): older entries are pruned daily by a beat task.
BAAS_AUDIT_RETENTION_DAYS = max(env_int("AUDIT_RETENTION_DAYS", 365), 1)
# Webhooks (docs/webhooks.md): targets on loopback, private, link-local or metadata
# addresses are refused unless allowed; seconds to connect and to read (the whole
# exchange at most twice that); an endpoint failing with no success for this many
# seconds (default 5 days) is disabled.
BAAS_WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", False)
BAAS_WEBHOOK_TIMEOUT = max(float(env("WEBHOOK_TIMEOUT") or 10), 0.1)
BAAS_WEBHOOK_DISABLE_AFTER = max(env_int("WEBHOOK_DISABLE_AFTER", 5 * 86400), 1)
# Realtime (docs/realtime.md#limits).
BAAS_REALTIME_MAX_SUBSCRIPTIONS = env_int("REALTIME_MAX_SUBSCRIPTIONS", 100)
BAAS_REALTIME_MAX_CONNECTIONS_PER_USER = env_int(
    "REALTIME_MAX_CONNECTIONS_PER_USER", 20
)
BAAS_REALTIME_MAX_FRAME = env_int("REALTIME_MAX_FRAME", 64 * 1024)
BAAS_REALTIME_SEND_QUEUE = env_int("REALTIME_SEND_QUEUE", 1000)
BAAS_REALTIME_FRAME_RATE = env_int("REALTIME_FRAME_RATE", 20)  # per second, sustained
BAAS_REALTIME_FRAME_BURST = env_int("REALTIME_FRAME_BURST", 60)
BAAS_REALTIME_HEARTBEAT = env_int("REALTIME_HEARTBEAT", 20)  # seconds

# --- push (apps/push, docs/push.md) ----------------------------------------------------
# FCM: a service-account JSON (a file path, or the JSON itself); the endpoint is for
# emulators and tests (default: Google's). Its project id comes from the JSON.
BAAS_FCM_CREDENTIALS = env("FCM_CREDENTIALS") or ""
BAAS_FCM_ENDPOINT = (env("FCM_ENDPOINT") or "https://fcm.googleapis.com").rstrip("/")
# APNs with a token (.p8) key: key file, its key id, the team id, the app's bundle id
# (apns-topic); the endpoint: production (default), the sandbox, or an emulator (an
# http:// endpoint speaks HTTP/2 without TLS).
BAAS_APNS_KEY_FILE = env("APNS_KEY_FILE") or ""
BAAS_APNS_KEY_ID = env("APNS_KEY_ID") or ""
BAAS_APNS_TEAM_ID = env("APNS_TEAM_ID") or ""
BAAS_APNS_TOPIC = env("APNS_TOPIC") or ""
BAAS_APNS_ENDPOINT = (env("APNS_ENDPOINT") or "https://api.push.apple.com").rstrip("/")
# Web Push: VAPID keys (generated into <data dir>/push/ when not set) and the subject
# push services may contact; subscriptions only for endpoints on these hosts (an entry
# `*.example.com` covers subdomains; host:port for a port other than 443).
BAAS_VAPID_PRIVATE_KEY = env("VAPID_PRIVATE_KEY") or ""
BAAS_VAPID_SUBJECT = env("VAPID_SUBJECT") or "mailto:admin@localhost"
BAAS_WEBPUSH_ALLOWED_HOSTS = [
    host.lower()
    for host in env_list(
        "WEBPUSH_ALLOWED_HOSTS",
        [
            "fcm.googleapis.com",
            "updates.push.services.mozilla.com",
            "*.push.services.mozilla.com",
            "*.notify.windows.com",
            "web.push.apple.com",
            "*.push.apple.com",
        ],
    )
]
BAAS_PUSH_DIR = DATA_DIR / "push"

# --- files (apps/files, docs/configuration.md#file-storage) -----------------------------
# Multipart bodies (file uploads) may be this large; each file field's `max_size` is
# enforced while reading. JSON bodies keep BAAS_MAX_BODY_SIZE.
BAAS_MAX_UPLOAD_SIZE = env_int("MAX_UPLOAD_SIZE", 1024 * 1024 * 1024)
# Uploads stream to temporary files here (on disk, never a RAM-backed /tmp).
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(exist_ok=True)
FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
BAAS_FILE_TOKEN_TTL = env_int("FILE_TOKEN_TTL", 120)
BAAS_THUMB_MAX_PIXELS = env_int("THUMB_MAX_PIXELS", 60_000_000)
# Pending uploads (written but never attached) and direct uploads never completed are
# removed after this long by the cleanup job.
BAAS_FILES_PENDING_TTL = env_int("FILES_PENDING_TTL", 3600)
BAAS_S3_BUCKET = env("S3_BUCKET")
BAAS_S3_ENDPOINT = env("S3_ENDPOINT")  # e.g. https://minio.internal:9000; unset for AWS
BAAS_S3_REGION = env("S3_REGION", "us-east-1")
BAAS_S3_PREFIX = (env("S3_PREFIX") or "").strip("/")
# Downloads larger than this redirect to a presigned URL instead of streaming through
# the web worker (-1: always stream); presigned URLs last BAAS_S3_URL_TTL seconds.
BAAS_S3_REDIRECT_SIZE = env_int("S3_REDIRECT_SIZE", 8 * 1024 * 1024)
BAAS_S3_URL_TTL = env_int("S3_URL_TTL", 300)
_file_storage: dict = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {
        "location": str(DATA_DIR / "storage"),
        "file_permissions_mode": 0o600,
        "allow_overwrite": True,  # keys are unique (StoredFile.key); thumbs may race
    },
}
if BAAS_S3_BUCKET:
    from boto3.s3.transfer import TransferConfig

    # Multipart uploads from memory (thumbnails, small bodies) hold at most three 8 MB
    # parts: boto3's defaults (10 threads, 10 parts read ahead of them, which its
    # TransferConfig does not take as an argument) hold 80 MB and more on a slow bucket.
    _transfer_config = TransferConfig(
        multipart_chunksize=8 * 1024 * 1024, max_concurrency=3, max_io_queue=8
    )
    _transfer_config.max_in_memory_upload_chunks = 3
    _file_storage = {
        "BACKEND": "apps.files.s3.BucketStorage",
        "OPTIONS": {
            "bucket_name": BAAS_S3_BUCKET,
            "endpoint_url": BAAS_S3_ENDPOINT,
            "region_name": BAAS_S3_REGION,
            "access_key": env("S3_ACCESS_KEY"),
            "secret_key": env("S3_SECRET_KEY"),
            "location": BAAS_S3_PREFIX,
            "addressing_style": "path"
            if env_bool("S3_FORCE_PATH_STYLE", bool(BAAS_S3_ENDPOINT))
            else None,
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_expire": BAAS_S3_URL_TTL,
            "file_overwrite": True,  # keys are unique (StoredFile.key): no HEAD first
            "transfer_config": _transfer_config,
        },
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "baas_files": _file_storage,
}
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- i18n, static ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# WhiteNoise serves static files in every mode (DEBUG off, uvicorn); with finders it reads
# them from the installed apps, so `collectstatic` is optional, not required.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"server_errors_only": {"()": "baas.logs.ServerErrorsOnly"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
    # Django logs every 4xx answer as a warning ("Not Found: ..."): expected, not news.
    "loggers": {"django.request": {"filters": ["server_errors_only"]}},
}
