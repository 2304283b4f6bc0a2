"""Production settings: refuse to start without real secrets; pass `check --deploy` with them.

Settings are read once per process, so each case runs in a subprocess with its own
environment (tests/e2e/servers.server_env: no BAAS_* variable leaks in from the test run).
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from baas.config import generate_rsa_private_key, generate_secret_key
from tests.e2e import servers

SETUP_DJANGO = (
    "import os, django\n"
    "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'baas.settings')\n"
    "django.setup()\n"
    "print('started')"
)


@pytest.fixture(scope="module")
def jwt_key() -> str:
    return generate_rsa_private_key()


def production_env(tmp_path, **extra: str) -> dict[str, str]:
    return servers.server_env(
        tmp_path, BAAS_ENV="production", BAAS_ALLOWED_HOSTS="api.example.com", **extra
    )


def start_django(env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [servers.PYTHON, "-c", SETUP_DJANGO],
        check=False,
        cwd=servers.REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "  CHANGEME ",
        "short-but-random-Xq9",
        "x" * 64,
        "django-insecure-" + "a1b2c3d4e5" * 5,
        "Kq7vR2mX9pL4sT8wZ1nB6cY3hJ5gF0dA-_eUiOoPkQ",  # 42: under check --deploy's 50
    ],
    ids=[
        "missing",
        "placeholder",
        "too-short",
        "one-character",
        "django-insecure",
        "under-50",
    ],
)
def test_production_refuses_to_start_without_a_real_secret_key(
    tmp_path, jwt_key, secret
):
    extra = {"BAAS_JWT_PRIVATE_KEY": jwt_key}
    if secret is not None:
        extra["BAAS_SECRET_KEY"] = secret
    result = start_django(production_env(tmp_path, **extra))
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "BAAS_SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_a_jwt_private_key(tmp_path):
    result = start_django(
        production_env(tmp_path, BAAS_SECRET_KEY=generate_secret_key())
    )
    assert result.returncode != 0
    assert "BAAS_JWT_PRIVATE_KEY" in result.stderr
    assert not (
        tmp_path / "jwt_private_key.pem"
    ).exists()  # never generated in production


@pytest.mark.parametrize(
    "jwt", ["change-me", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"]
)
def test_a_jwt_private_key_that_is_not_an_rsa_pem_is_refused(tmp_path, jwt):
    result = start_django(
        production_env(
            tmp_path, BAAS_SECRET_KEY=generate_secret_key(), BAAS_JWT_PRIVATE_KEY=jwt
        )
    )
    assert result.returncode != 0
    assert (
        "BAAS_JWT_PRIVATE_KEY must be an unencrypted RSA private key in PEM"
        in result.stderr
    )


@pytest.mark.parametrize(
    "command", [["migrate"], ["serve", "--port", "1"], ["check", "--deploy"]]
)
def test_the_baas_command_reports_a_missing_secret_in_one_line(
    tmp_path, jwt_key, command
):
    env = production_env(
        tmp_path, BAAS_JWT_PRIVATE_KEY=jwt_key, BAAS_SECRET_KEY="change-me"
    )
    result = servers.run_baas(*command, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "baas: configuration error: BAAS_SECRET_KEY must be set"
    )
    assert "Traceback" not in result.stderr


def test_the_embedded_default_needs_no_configuration(tmp_path):
    result = start_django(servers.server_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "secret_key").exists()
    assert (tmp_path / "jwt_private_key.pem").exists()


@contextlib.contextmanager
def production_database(tmp_path):
    if servers.postgres_profile():
        with servers.fresh_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'production.sqlite3'}"


def test_check_deploy_passes_without_warnings_when_configured_for_production(
    tmp_path, jwt_key
):
    with production_database(tmp_path) as database_url:
        env = production_env(
            tmp_path,
            BAAS_SECRET_KEY=generate_secret_key(),
            BAAS_JWT_PRIVATE_KEY=jwt_key,
            BAAS_DATABASE_URL=database_url,
        )
        migrated = servers.run_baas("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
        result = subprocess.run(
            [servers.PYTHON, "manage.py", "check", "--deploy"],
            check=False,
            cwd=servers.REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output
    assert not (tmp_path / "secret_key").exists()
