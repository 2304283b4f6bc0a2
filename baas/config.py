"""Environment-driven configuration: every setting is a BAAS_* variable with an embedded default."""

from __future__ import annotations

import os
import secrets
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


def data_dir() -> Path:
    path = Path(env("DATA_DIR", "baas_data")).resolve()  # type: ignore[arg-type]
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
    return {}
