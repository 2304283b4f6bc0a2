"""The server's password reset page (apps.accounts.reset_page), where the link of an
operator-sent reset email leads: key moved out of the URL, allauth's password rules, every
session ended, one use only, bad links answered 400, CSP and CSRF."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from apps.accounts import admin
from apps.accounts.reset_page import SESSION_KEY
from tests.accounts.test_admin_services import (
    login_status,
    operator_request,
    reset_link,
)
from tests.accounts.test_tokens import refresh, sign_in
from tests.conftest import USER_PASSWORD

NEW_PASSWORD = "quiet-Harbour-lantern-42"
FORM = "/account/reset/set-password/"


@pytest.fixture
def link(db, superuser, app_user) -> str:
    admin.send_password_reset(
        actor=superuser, user_id=app_user.pk, request=operator_request(superuser)
    )
    return reset_link(mail.outbox[-1]).removeprefix("http://testserver")


def open_form(client: Client, link: str):
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == FORM
    return client.get(FORM)


def test_the_link_moves_its_key_into_the_session_and_shows_the_form(client, link):
    response = client.get(link)
    assert response.status_code == 302 and response["Location"] == FORM
    key = link.rstrip("/").rsplit("/", 1)[1]
    assert client.session[SESSION_KEY] == key
    form = client.get(FORM)
    assert form.status_code == 200
    assert key not in form.content.decode()
    assert b"Choose a new password" in form.content
    assert b"user1@example.com" in form.content
    policy = form["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "no-cache" in form["Cache-Control"] or "no-store" in form["Cache-Control"]


def test_a_weak_password_is_refused_with_allauths_message(client, link, app_user):
    open_form(client, link)
    response = client.post(FORM, {"password1": "abc", "password2": "abc"})
    assert response.status_code == 400
    assert b"too short" in response.content
    assert login_status(app_user.email) == 200  # unchanged


def test_the_two_passwords_must_match(client, link):
    open_form(client, link)
    response = client.post(
        FORM, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD + "x"}
    )
    assert response.status_code == 400
    assert b"differ" in response.content


def test_a_new_password_ends_every_session_and_the_link(client, link, app_user):
    phone = sign_in(app_user.email, agent="Phone/1.0")
    # Signing in changes last_login, which ends the link: ask for a new one.
    admin.send_password_reset(
        actor=admin.User.objects.get(is_superuser=True),
        user_id=app_user.pk,
        request=operator_request(admin.User.objects.get(is_superuser=True)),
    )
    link = reset_link(mail.outbox[-1]).removeprefix("http://testserver")
    open_form(client, link)

    response = client.post(FORM, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert response.status_code == 200
    assert b"Password changed" in response.content
    assert "_auth_user_id" not in client.session  # nobody signed in
    assert SESSION_KEY not in client.session
    assert refresh(phone["refresh_token"]).status_code == 401
    assert login_status(app_user.email, NEW_PASSWORD) == 200
    assert login_status(app_user.email, USER_PASSWORD) != 200
    # The link is spent: neither it nor the form answers again.
    assert Client().get(link).status_code == 400
    assert client.get(FORM).status_code == 400
    assert client.get(link).status_code == 400


def test_the_link_works_once_even_in_the_same_browser(client, link, app_user):
    open_form(client, link)
    client.post(FORM, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    response = client.post(FORM, {"password1": "Other-pass-9876", "password2": "x"})
    assert response.status_code == 400
    assert b"does not work" in response.content
    assert login_status(app_user.email, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "key",
    [
        "nothing",
        "zz-zz",
        "1-2-3",
        "%00-abc",
        "a" * 300,
        "set-password",
    ],
)
def test_a_forged_or_garbled_link_is_a_400_page(db, client, app_user, key):
    response = client.get(f"/account/reset/{key}/")
    assert response.status_code == 400
    assert b"This link does not work" in response.content
    assert "Content-Security-Policy" in response


def test_a_forged_token_for_a_real_user_is_a_400_page(client, link):
    key = link.rstrip("/").rsplit("/", 1)[1]
    uid, _, token = key.partition("-")
    forged = f"{uid}-{token[:-3]}{'abc' if token[-3:] != 'abc' else 'abd'}"
    assert client.get(f"/account/reset/{forged}/").status_code == 400
    assert client.get(FORM).status_code == 400


def test_posting_to_the_link_itself_is_refused(client, link):
    response = client.post(link, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code in (400, 403)


def test_a_disabled_account_cannot_use_its_link(client, link, superuser, app_user):
    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=False)
    assert client.get(link).status_code == 400


def test_the_form_needs_its_csrf_token(db, link, app_user):
    client = Client(enforce_csrf_checks=True)
    form = open_form(client, link)
    token = form.context["csrf_token"]
    refused = client.post(FORM, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert refused.status_code == 403
    app_user.refresh_from_db()
    assert app_user.check_password(USER_PASSWORD)  # (signing in would end the link)
    done = client.post(
        FORM,
        {
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "csrfmiddlewaretoken": str(token),
        },
    )
    assert done.status_code == 200
    assert login_status(app_user.email, NEW_PASSWORD) == 200
