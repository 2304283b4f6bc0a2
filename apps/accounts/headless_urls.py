"""allauth's headless URL patterns for one client, without the routes this server does not
serve: they answer 404 in the error envelope and are absent from the OpenAPI document
(which keeps only the paths the URL map resolves).

Phone numbers are not supported yet: that needs an SMS sender and somewhere to keep the
number, and allauth's phone endpoints would answer 500 (its adapter stores no phone).
"""

from __future__ import annotations

from allauth.headless.constants import Client
from allauth.headless.urls import build_urlpatterns
from django.urls import URLPattern, URLResolver

UNSERVED = frozenset({"manage_phone", "verify_phone", "resend_phone_verification_code"})


def headless_urlpatterns(client: Client) -> list[URLPattern | URLResolver]:
    return _without(build_urlpatterns(client), UNSERVED)


def _without(
    patterns: list[URLPattern | URLResolver], names: frozenset[str]
) -> list[URLPattern | URLResolver]:
    """The patterns without those named `names`, at any depth (the included lists were
    just built for us, so they are trimmed in place)."""
    kept = []
    for entry in patterns:
        if isinstance(entry, URLResolver) and isinstance(entry.urlconf_name, list):
            entry.urlconf_name[:] = _without(entry.urlconf_name, names)
        elif isinstance(entry, URLPattern) and entry.name in names:
            continue
        kept.append(entry)
    return kept
