"""An integer beyond 64 bits in an `__in` filter matches nothing instead of failing.

SQLite's driver refuses such integers (OverflowError): before apps.core.lookups, an
authenticator or session id of 20 digits sent to allauth's endpoints answered 500.
"""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.sessions.models import Session

HUGE = 10**20  # beyond 2**63 - 1


@pytest.mark.django_db
def test_an_out_of_range_id_in_an_in_filter_matches_no_row(app_user):
    kept = Authenticator.objects.create(
        user=app_user, type=Authenticator.Type.RECOVERY_CODES, data={}
    )
    assert list(Authenticator.objects.filter(pk__in=[HUGE])) == []
    assert list(Authenticator.objects.filter(pk__in=[-HUGE, HUGE])) == []
    assert list(Authenticator.objects.filter(pk__in=[HUGE, kept.pk])) == [kept]
    assert Authenticator.objects.exclude(pk__in=[HUGE]).count() == 1


@pytest.mark.django_db
def test_other_in_filters_are_unchanged(app_user):
    """Text columns and subqueries take the usual path."""
    assert Session.objects.filter(session_key__in=[str(HUGE)]).count() == 0
    subquery = Authenticator.objects.filter(user=app_user).values("pk")
    assert Authenticator.objects.filter(pk__in=subquery).count() == 0


@pytest.mark.django_db
def test_deleting_an_out_of_range_passkey_id_is_an_invalid_choice(user_client):
    response = user_client.delete(
        "/api/v1/account/authenticators/webauthn",
        {"authenticators": [HUGE]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["code"] == "invalid_choice"


@pytest.mark.django_db
def test_ending_an_out_of_range_session_id_is_refused_not_a_server_error(user_client):
    response = user_client.delete(
        "/api/v1/auth/sessions", {"sessions": [HUGE]}, format="json"
    )
    assert response.status_code == 400, response.content
