"""The console's Users pages in-process (Django's test client): search, paging, the
detail page, and every change refused in place with its status, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.accounts.test_tokens import sign_in, works

XSS = '<img src=x onerror=alert(1)>"><script>'


@pytest.fixture
def console_client(superuser) -> Client:
    from admin_ui.access import CONSOLE_SESSION_KEY

    client = Client()
    client.force_login(superuser)
    session = client.session
    session[CONSOLE_SESSION_KEY] = str(superuser.pk)
    session.save()
    return client


def test_the_list_shows_users_with_their_state(db, console_client, make_user):
    user = make_user("alice@example.com")
    user.is_active = False
    user.save()
    response = console_client.get("/console/users/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice@example.com" in html and "Disabled" in html
    assert f"/console/users/{user.pk}/" in html


def test_search_answers_htmx_with_the_results_only(db, console_client, make_user):
    make_user("alice@example.com")
    make_user("bob@example.com")
    response = console_client.get(
        "/console/users/?q=ALI",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="users-results",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "alice@example.com" in html and "bob@example.com" not in html
    assert "<html" not in html


def test_the_list_pages_by_25(db, console_client, make_user):
    for n in range(30):
        make_user(f"pager{n:02}@example.com")
    first = console_client.get("/console/users/?q=pager").content.decode()
    second = console_client.get("/console/users/?q=pager&page=2").content.decode()
    assert first.count("@example.com</a>") == 25
    assert second.count("@example.com</a>") == 5
    assert "page=2" in first
    assert console_client.get("/console/users/?page=x").status_code == 200


def test_the_detail_page_shows_sessions_and_mfa(db, console_client, app_user):
    from allauth.mfa.models import Authenticator

    sign_in(app_user.email, agent="Phone/1.0 " + XSS)
    Authenticator.objects.create(
        user=app_user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    response = console_client.get(f"/console/users/{app_user.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Authenticator app (TOTP)" in html
    assert "Phone/1.0" in html and XSS not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_an_unknown_user_is_404(db, console_client):
    assert console_client.get("/console/users/nope/").status_code == 404
    response = console_client.post("/console/users/nope/active/", {"active": "0"})
    assert response.status_code == 404


def test_disable_and_enable(db, console_client, app_user):
    phone = sign_in(app_user.email)
    response = console_client.post(
        f"/console/users/{app_user.pk}/active/", {"active": "0"}, follow=True
    )
    assert response.status_code == 200
    assert "disabled and signed out everywhere" in response.content.decode()
    app_user.refresh_from_db()
    assert not app_user.is_active and not works(phone["access_token"])
    console_client.post(f"/console/users/{app_user.pk}/active/", {"active": "1"})
    app_user.refresh_from_db()
    assert app_user.is_active
    bad = console_client.post(f"/console/users/{app_user.pk}/active/", {"active": "x"})
    assert bad.status_code == 400


def test_a_superuser_cannot_disable_or_delete_themselves(db, console_client, superuser):
    page = console_client.get(f"/console/users/{superuser.pk}/").content.decode()
    assert "you cannot disable or delete it" in page
    response = console_client.post(
        f"/console/users/{superuser.pk}/active/", {"active": "0"}
    )
    assert response.status_code == 409
    assert "You cannot disable your own account." in response.content.decode()
    response = console_client.post(
        f"/console/users/{superuser.pk}/delete/", {"confirm": superuser.email}
    )
    assert response.status_code == 409
    superuser.refresh_from_db()
    assert superuser.is_active


def test_delete_needs_the_typed_email(db, console_client, app_user):
    url = f"/console/users/{app_user.pk}/delete/"
    response = console_client.post(url, {"confirm": "wrong"})
    assert response.status_code == 400
    assert "Type the account" in response.content.decode()
    assert type(app_user).objects.filter(pk=app_user.pk).exists()
    response = console_client.post(url, {"confirm": app_user.email}, follow=True)
    assert response.redirect_chain[-1][0] == "/console/users/"
    assert not type(app_user).objects.filter(pk=app_user.pk).exists()


def test_ending_a_session(db, console_client, app_user):
    from allauth.usersessions.models import UserSession

    phone = sign_in(app_user.email)
    session = UserSession.objects.get(user=app_user)
    response = console_client.post(
        f"/console/users/{app_user.pk}/sessions/{session.pk}/end/", follow=True
    )
    assert "The session was ended." in response.content.decode()
    assert not works(phone["access_token"])
    missing = console_client.post(
        f"/console/users/{app_user.pk}/sessions/{session.pk}/end/"
    )
    assert missing.status_code == 404


def test_get_is_not_allowed_for_changes(db, console_client, app_user):
    response = console_client.get(f"/console/users/{app_user.pk}/delete/")
    assert response.status_code == 405


def test_csrf_is_required(db, superuser, app_user):
    from admin_ui.access import CONSOLE_SESSION_KEY

    client = Client(enforce_csrf_checks=True)
    client.force_login(superuser)
    session = client.session
    session[CONSOLE_SESSION_KEY] = str(superuser.pk)
    session.save()
    response = client.post(f"/console/users/{app_user.pk}/active/", {"active": "0"})
    assert response.status_code == 403
    app_user.refresh_from_db()
    assert app_user.is_active


def test_app_users_and_anonymous_cannot_open_the_pages(db, app_user):
    anonymous = Client()
    assert anonymous.get("/console/users/").status_code == 302
    assert (
        anonymous.post(f"/console/users/{app_user.pk}/active/", {"active": "0"})
    ).status_code == 403
    member = Client()
    member.force_login(app_user)
    assert member.get("/console/users/").status_code == 302


def test_send_a_password_reset_email(db, console_client, app_user):
    from django.core import mail

    response = console_client.post(
        f"/console/users/{app_user.pk}/password-reset/", follow=True
    )
    assert response.status_code == 200
    assert "password reset email is on its way" in response.content.decode()
    assert mail.outbox[-1].to == [app_user.email]
    assert "http://testserver/account/reset/" in mail.outbox[-1].body
    get = console_client.get(f"/console/users/{app_user.pk}/password-reset/")
    assert get.status_code == 405


def test_a_password_reset_is_refused_in_place_for_guests_and_disabled_users(
    db, console_client, app_user
):
    from django.core import mail

    from apps.accounts.models import User

    guest = User.objects.create_guest()
    response = console_client.post(f"/console/users/{guest.pk}/password-reset/")
    assert response.status_code == 400
    assert "no email address" in response.content.decode()
    app_user.is_active = False
    app_user.save()
    response = console_client.post(f"/console/users/{app_user.pk}/password-reset/")
    assert response.status_code == 409
    assert "disabled" in response.content.decode()
    assert "Send password reset email" not in response.content.decode()
    missing = console_client.post("/console/users/nope/password-reset/")
    assert missing.status_code == 404
    assert mail.outbox == []
