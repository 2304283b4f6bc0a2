"""Passwords are hashed with Argon2 outside the tests (which use MD5 for speed): the
production settings are loaded in a fresh interpreter without pytest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import django
django.setup()
assert "pytest" not in sys.modules
from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from apps.accounts.models import User
encoded = make_password("A-long-passphrase-1")
user = User(email="someone@example.com")
user.set_password("Another-passphrase-2")
print(settings.PASSWORD_HASHERS[0])
print(encoded)
print(user.password)
print(check_password("A-long-passphrase-1", encoded), identify_hasher(encoded).algorithm)
"""


def production_settings_output(tmp_path) -> list[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BAAS_") and k != "DJANGO_SETTINGS_MODULE"
    }
    env.update(DJANGO_SETTINGS_MODULE="baas.settings", BAAS_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_new_password_hash_outside_the_tests_is_argon2(tmp_path):
    first, encoded, user_hash, checked = production_settings_output(tmp_path)
    assert first == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert encoded.startswith("argon2$argon2id$")
    assert user_hash.startswith("argon2$argon2id$")
    assert checked == "True argon2"


def test_the_tests_themselves_run_a_fast_hasher(settings):
    assert settings.PASSWORD_HASHERS == [
        "django.contrib.auth.hashers.MD5PasswordHasher"
    ]
