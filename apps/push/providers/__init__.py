"""The push providers: one module per platform, each a `Provider` (providers.base),
built from settings once per process and reused (their connections with them)."""

from __future__ import annotations

import importlib
import threading

from django.core.signals import setting_changed
from django.dispatch import receiver

from apps.push.providers.base import Provider

_providers: dict[str, Provider] = {}
_lock = threading.Lock()


def get(platform: str) -> Provider:
    """The provider of `platform` (raises base.ProviderNotConfigured)."""
    provider = _providers.get(platform)
    if provider is None:
        with _lock:
            provider = _providers.get(platform)
            if provider is None:
                module = importlib.import_module(f"apps.push.providers.{platform}")
                provider = _providers[platform] = module.from_settings()
    return provider


def reset() -> None:
    """Close and forget every provider (settings changed, tests, shutdown)."""
    with _lock:
        for provider in _providers.values():
            provider.close()
        _providers.clear()


@receiver(setting_changed)
def _settings_changed(setting, **kwargs) -> None:
    if setting.startswith(("BAAS_FCM_", "BAAS_APNS_", "BAAS_VAPID_", "BAAS_WEBPUSH_")):
        reset()
