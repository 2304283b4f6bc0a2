"""BAAS_RATE_LIMITS: the auth rate limits as configured, turned off, or overridden."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from baas.config import rate_limits_from_env

DEFAULTS = {"login": "30/m/ip", "login_failed": "10/m/ip,5/5m/key", "guest": "10/m/ip"}


def test_without_the_variable_the_defaults_apply(monkeypatch):
    monkeypatch.delenv("BAAS_RATE_LIMITS", raising=False)
    assert rate_limits_from_env(DEFAULTS) == DEFAULTS


def test_off_turns_every_limit_off(monkeypatch):
    monkeypatch.setenv("BAAS_RATE_LIMITS", " OFF ")
    assert rate_limits_from_env(DEFAULTS) is False


def test_overrides_replace_the_named_actions_only(monkeypatch):
    monkeypatch.setenv(
        "BAAS_RATE_LIMITS", "login_failed=20/m/ip,10/5m/key; guest= ;login=100/2m"
    )
    assert rate_limits_from_env(DEFAULTS) == {
        "login": "100/2m",
        "login_failed": "20/m/ip,10/5m/key",
        "guest": "",  # (an empty rate: no limit for that action)
    }


@pytest.mark.parametrize(
    "value", ["signin=5/m/ip", "login", "login=5 per minute", "login=5/m/device"]
)
def test_an_unknown_action_or_a_malformed_rate_stops_the_start(monkeypatch, value):
    monkeypatch.setenv("BAAS_RATE_LIMITS", value)
    with pytest.raises(ImproperlyConfigured, match="BAAS_RATE_LIMITS"):
        rate_limits_from_env(DEFAULTS)


def failed_logins(count: int) -> list[int]:
    client = APIClient()
    body = {"email": "nobody@example.com", "password": "wrong-password-1"}
    return [
        client.post("/api/v1/auth/login", body, format="json").status_code
        for _ in range(count)
    ]


@pytest.mark.django_db
def test_with_limits_off_failed_logins_are_never_refused_with_429(settings):
    assert 429 in failed_logins(12)  # the default: 10 failed per minute per IP
    settings.ACCOUNT_RATE_LIMITS = False  # what BAAS_RATE_LIMITS=off sets
    cache.clear()
    assert 429 not in failed_logins(12)
