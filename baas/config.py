"""Environment-driven configuration: every setting is a BAAS_* variable with an embedded default."""

from __future__ import annotations

import os
import re
import secrets
import sys
from pathlib import Path

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "insecure", "placeholder"}


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"BAAS_{name}")
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def default_data_dir() -> Path:
    """The data directory fixed by the installation, whatever the working directory: in a
    virtualenv `baas_data` beside it (the repository's for scripts/serve's `.venv`),
    otherwise the user's data directory ($XDG_DATA_HOME/baas, ~/.local/share/baas)."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix).resolve().parent / "baas_data"
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "baas"


def data_dir() -> Path:
    """BAAS_DATA_DIR (relative to the working directory) or the installation's default."""
    configured = env("DATA_DIR")
    path = Path(configured).resolve() if configured else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def persistent_secret(filename: str, generate) -> str:
    """Read a generated secret from the data directory, creating it on first use."""
    path = data_dir() / filename
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(generate())
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text()


def generate_secret_key() -> str:
    return secrets.token_urlsafe(50)


def generate_rsa_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def is_rsa_private_key(pem: str) -> bool:
    """True for an unencrypted RSA private key in PEM (what the JWT signer needs)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return isinstance(key, rsa.RSAPrivateKey)


def social_providers_from_env() -> dict:
    """SOCIALACCOUNT_PROVIDERS from BAAS_* variables (docs/auth.md). Apps configured in
    the database (the console) are added to these by allauth itself."""
    import json

    from django.core.exceptions import ImproperlyConfigured

    # Per-app settings an operator may give a generic OpenID Connect provider (allauth's
    # SocialApp.settings). Not "verified_email" or "email_authentication": both would let
    # a provider's word about an address sign in to, or take over, an existing account.
    oidc_app_settings = {
        "token_auth_method",
        "fetch_userinfo",
        "scope",
        "uid_field",
        "auth_params",
        "oauth_pkce_enabled",
    }

    def client_apps(client_ids: list[str], **fields) -> list[dict]:
        """One allauth app per client id: the provider-token flow looks the app up by
        the client id the native app sends and checks the id_token's `aud` against it.
        The first app serves the web redirect flow; the others are hidden from it."""
        apps = []
        for index, client_id in enumerate(dict.fromkeys(client_ids)):
            app = {**fields, "client_id": client_id}
            app["settings"] = {**fields.get("settings", {}), "hidden": index > 0}
            apps.append(app)
        return apps

    def pem(name: str) -> str:
        """A PEM from BAAS_<name> (literal "\\n" allowed) or the file BAAS_<name>_FILE."""
        value = env(name)
        path = env(f"{name}_FILE")
        if not value and path:
            value = Path(path).read_text()
        return (value or "").replace("\\n", "\n").strip()

    providers: dict = {}

    google_web = env("GOOGLE_CLIENT_ID")
    google_ids = [google_web] if google_web else []
    google_ids += env_list("GOOGLE_IOS_CLIENT_ID", [])
    google_ids += env_list("GOOGLE_ANDROID_CLIENT_ID", [])
    google_ids += env_list("GOOGLE_CLIENT_IDS", [])
    if google_ids:
        apps = client_apps(
            google_ids, name="Google", secret=env("GOOGLE_SECRET", "") or ""
        )
        providers["google"] = {"APPS": apps, "OAUTH_PKCE_ENABLED": True}

    apple_web = env("APPLE_SERVICES_ID")
    apple_ids = [apple_web] if apple_web else []
    apple_ids += env_list("APPLE_BUNDLE_IDS", [])
    if apple_ids:
        apps = client_apps(
            apple_ids,
            name="Apple",
            secret=env("APPLE_KEY_ID", "") or "",
            key=env("APPLE_TEAM_ID", "") or "",
            settings={"certificate_key": pem("APPLE_PRIVATE_KEY")},
        )
        providers["apple"] = {"APPS": apps}

    raw = env("OIDC_PROVIDERS")
    if raw:
        try:
            entries = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"BAAS_OIDC_PROVIDERS is not JSON: {exc}"
            ) from None
        if not isinstance(entries, list):
            raise ImproperlyConfigured("BAAS_OIDC_PROVIDERS must be a JSON list")
        apps = []
        for index, entry in enumerate(entries):
            missing = [
                key
                for key in ("id", "server_url", "client_id")
                if not isinstance(entry, dict) or not entry.get(key)
            ]
            if missing:
                raise ImproperlyConfigured(
                    f"BAAS_OIDC_PROVIDERS[{index}] lacks {', '.join(missing)}"
                )
            settings = {"server_url": entry["server_url"], "oauth_pkce_enabled": True}
            settings.update({k: v for k, v in entry.items() if k in oidc_app_settings})
            if "pkce" in entry:
                settings["oauth_pkce_enabled"] = bool(entry["pkce"])
            apps += client_apps(
                [entry["client_id"], *entry.get("client_ids", [])],
                provider_id=entry["id"],
                name=entry.get("name") or entry["id"],
                secret=entry.get("secret", ""),
                settings=settings,
            )
        providers["openid_connect"] = {"APPS": apps}
    return providers


RATE = re.compile(r"\d+/(\d+(\.\d+)?)?[smhd](/(ip|key|user))?")


def rate_limits_from_env(defaults: dict[str, str]) -> dict[str, str] | bool:
    """ACCOUNT_RATE_LIMITS: the defaults, none (`BAAS_RATE_LIMITS=off`), or overrides.

    Overrides are `action=rate` pairs separated by `;` (a rate may hold commas, as in
    allauth: `login_failed=10/m/ip,5/5m/key;signup=5/m/ip`); an empty rate turns that
    action's limit off. Unknown actions and malformed rates are refused at start-up.
    """
    from django.core.exceptions import ImproperlyConfigured

    value = env("RATE_LIMITS")
    if value is None:
        return dict(defaults)
    if value.strip().lower() == "off":
        return False
    limits = dict(defaults)
    for item in filter(None, (part.strip() for part in value.split(";"))):
        action, sep, rate = (piece.strip() for piece in item.partition("="))
        if not sep or action not in defaults:
            raise ImproperlyConfigured(
                f"BAAS_RATE_LIMITS: {item!r} is not `action=rate` with one of the "
                f"actions {', '.join(sorted(defaults))}."
            )
        if rate and not all(RATE.fullmatch(part.strip()) for part in rate.split(",")):
            raise ImproperlyConfigured(
                f"BAAS_RATE_LIMITS: {rate!r} is not a rate such as 10/m/ip or 5/5m/key."
            )
        limits[action] = rate
    return limits
