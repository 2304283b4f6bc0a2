"""The console's settings page in-process: the effective configuration without any
secret, and the test email through the server's mail path."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection

from admin_ui.views.features.settings import safe_url

pytestmark = pytest.mark.usefixtures("schema_db")


def test_settings_show_the_configuration_and_no_secret(console_client):
    response = console_client.get("/console/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    for text in ("Database", engine, "File storage", "Rate limits", "Push providers"):
        assert text in html
    assert settings.SECRET_KEY and settings.SECRET_KEY not in html
    assert settings.JWT_PRIVATE_KEY[40:80] not in html


def test_smtp_passwords_and_url_credentials_are_never_shown(console_client):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            settings,
            "BAAS_EMAIL_DELIVERY_BACKEND",
            "django.core.mail.backends.smtp.EmailBackend",
        )
        patch.setattr(settings, "EMAIL_HOST_PASSWORD", "smtp-pass-w0rd")
        patch.setattr(settings, "REDIS_URL", "redis://:redis-pass-w0rd@cache:6379/0")
        response = console_client.get("/console/settings/")
    html = response.content.decode()
    assert "smtp-pass-w0rd" not in html and "redis-pass-w0rd" not in html
    assert "redis://cache:6379/0" in html
    assert (
        safe_url("postgres://u:p@db:5432/x?sslmode=require") == "postgres://db:5432/x"
    )


def test_a_test_email_is_sent_through_the_mail_path(console_client, settings):
    settings.BAAS_EMAIL_DELIVERY_BACKEND = (
        "django.core.mail.backends.locmem.EmailBackend"
    )
    response = console_client.post(
        "/console/settings/test-email/", {"to": "ops@example.com"}
    )
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["ops@example.com"]]
    bad = console_client.post("/console/settings/test-email/", {"to": "<b>nope"})
    assert bad.status_code == 400
    assert "Enter a valid email address." in bad.content.decode()
    assert "<b>nope" not in bad.content.decode()
