"""The console's API keys page in-process: create (the secret in that answer only),
errors in place with their status, revoke, escaping."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.console.test_users_views import XSS, console_client  # noqa: F401

RECORDS = "/api/v1/collections/users/records"


def key_works(plaintext: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    status = client.get(RECORDS).status_code
    assert status in (200, 401), status
    return status == 200


def create(client: Client, **form):
    data = {"name": "worker", "scopes": ["records:read"], "expires_at": "", **form}
    return client.post("/console/keys/", data)


def test_the_page_lists_every_scope(db, console_client):  # noqa: F811
    from apps.accounts.apikeys import SCOPES

    html = console_client.get("/console/keys/").content.decode()
    for scope in SCOPES:
        assert f'value="{scope}"' in html


def test_a_created_key_is_shown_once_and_works(db, console_client):  # noqa: F811
    from apps.accounts.models import ApiKey
    from apps.hooks.models import AuditEntry

    response = create(console_client, name="billing")
    assert response.status_code == 201
    html = response.content.decode()
    key = ApiKey.objects.get(name="billing")
    start = html.index('id="new-key-secret">') + len('id="new-key-secret">')
    plaintext = html[start : html.index("</code>", start)]
    assert plaintext.startswith(f"bk_{key.prefix}_")
    assert key_works(plaintext)
    assert plaintext not in console_client.get("/console/keys/").content.decode()
    assert AuditEntry.objects.filter(action="apikey.create", target_id=key.pk).exists()


def test_an_expiry_is_read_as_utc(db, console_client):  # noqa: F811
    from apps.accounts.models import ApiKey

    assert create(console_client, expires_at="2099-01-31T12:30").status_code == 201
    expires = ApiKey.objects.get().expires_at
    assert expires.isoformat().startswith("2099-01-31T12:30:00")
    assert expires.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "form, param_text",
    [
        ({"name": ""}, "A key needs a name"),
        ({"name": "x" * 101}, "A key needs a name"),
        ({"scopes": []}, "Unknown or missing scopes"),
        ({"scopes": ["root"]}, "Unknown or missing scopes"),
        ({"expires_at": "2001-01-01T00:00"}, "The expiry must be in the future."),
        ({"expires_at": "tomorrow"}, "Enter a date and time"),
    ],
)
def test_invalid_input_is_400_with_the_message_in_place(
    db,
    console_client,  # noqa: F811
    form,
    param_text,
):
    from apps.accounts.models import ApiKey

    response = create(console_client, **form)
    assert response.status_code == 400
    html = response.content.decode()
    assert param_text in html
    assert 'class="field-error"' in html
    assert not ApiKey.objects.exists()


def test_revoke_makes_the_key_useless(db, console_client):  # noqa: F811
    from apps.accounts.apikeys import apikey_create

    key, plaintext = apikey_create(name="old", scopes=["records:read"])
    response = console_client.post(f"/console/keys/{key.pk}/revoke/", follow=True)
    assert "The key old was revoked." in response.content.decode()
    assert not key_works(plaintext)
    key.refresh_from_db()
    assert key.revoked_at is not None
    missing = console_client.post("/console/keys/nope/revoke/")
    assert missing.status_code == 404


def test_key_names_render_as_text(db, console_client):  # noqa: F811
    response = create(console_client, name=XSS)
    html = response.content.decode()
    assert XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&quot;&gt;&lt;script&gt;" in html


def test_app_users_cannot_create_keys(db, app_user):
    from apps.accounts.models import ApiKey

    client = Client()
    client.force_login(app_user)
    assert create(client).status_code == 403
    assert not ApiKey.objects.exists()
