"""Operator services on accounts (apps.accounts.admin, the console's Users page): disable
and enable, delete, end a session, MFA state; superusers only, audited, never oneself."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from rest_framework.test import APIClient

from apps.accounts import admin
from apps.core.exceptions import Conflict, Forbidden, NotFound
from tests.accounts.test_tokens import refresh, sign_in, works
from tests.conftest import USER_PASSWORD


def audit_actions(target_id: str) -> list[str]:
    from apps.hooks.models import AuditEntry

    return list(
        AuditEntry.objects.filter(target_id=target_id)
        .order_by("at", "id")
        .values_list("action", flat=True)
    )


def login_status(email: str, password: str = USER_PASSWORD) -> int:
    return (
        APIClient()
        .post(
            "/api/v1/auth/login", {"email": email, "password": password}, format="json"
        )
        .status_code
    )


def test_disabling_a_user_refuses_sign_in_and_ends_every_session(
    db, superuser, app_user
):
    phone = sign_in(app_user.email, agent="Phone/1.0")

    user = admin.user_set_active(actor=superuser, user_id=app_user.pk, active=False)

    assert not user.is_active
    assert not works(phone["access_token"])
    assert refresh(phone["refresh_token"]).status_code == 401
    assert not UserSession.objects.filter(user=app_user).exists()
    assert login_status(app_user.email) != 200
    assert audit_actions(app_user.pk) == ["user.disable"]


def test_enabling_a_user_lets_them_sign_in_again(db, superuser, app_user):
    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=False)
    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=True)
    assert login_status(app_user.email) == 200
    # (both may share one millisecond, the audit time's precision: no order between them)
    assert sorted(audit_actions(app_user.pk)) == ["user.disable", "user.enable"]


def test_the_audit_entry_names_the_operator_and_the_change(db, superuser, app_user):
    from apps.hooks.models import AuditEntry

    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=False)
    entry = AuditEntry.objects.get(target_id=app_user.pk, action="user.disable")
    assert (entry.actor_kind, entry.actor_id) == ("user", superuser.pk)
    assert entry.before["is_active"] is True and entry.after["is_active"] is False


def test_setting_the_same_state_again_changes_and_records_nothing(
    db, superuser, app_user
):
    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=True)
    assert audit_actions(app_user.pk) == []


def test_a_superuser_cannot_disable_or_delete_themselves(db, superuser):
    with pytest.raises(Conflict):
        admin.user_set_active(actor=superuser, user_id=superuser.pk, active=False)
    with pytest.raises(Conflict):
        admin.user_delete(actor=superuser, user_id=superuser.pk)
    superuser.refresh_from_db()
    assert superuser.is_active


def test_app_users_and_disabled_superusers_cannot_use_the_services(
    db, superuser, app_user, make_user
):
    other = make_user("other@example.com")
    with pytest.raises(Forbidden):
        admin.user_set_active(actor=app_user, user_id=other.pk, active=False)
    with pytest.raises(Forbidden):
        admin.user_delete(actor=app_user, user_id=other.pk)
    with pytest.raises(Forbidden):
        admin.user_get(actor=None, user_id=other.pk)
    superuser.is_active = False
    with pytest.raises(Forbidden):
        admin.user_set_active(actor=superuser, user_id=other.pk, active=False)


def test_unknown_users_are_not_found(db, superuser):
    with pytest.raises(NotFound):
        admin.user_get(actor=superuser, user_id="nope")
    with pytest.raises(NotFound):
        admin.user_set_active(actor=superuser, user_id="nope", active=False)


def test_deleting_a_user_goes_through_the_account_deletion(db, superuser, app_user):
    from apps.collections.models import Change
    from apps.hooks.models import AuditEntry

    phone = sign_in(app_user.email)

    admin.user_delete(actor=superuser, user_id=app_user.pk)

    assert not type(app_user).objects.filter(pk=app_user.pk).exists()
    assert not works(phone["access_token"])
    assert Change.objects.filter(
        collection_id="users", record_id=app_user.pk, op=Change.DELETE
    ).exists()
    entry = AuditEntry.objects.get(target_id=app_user.pk, action="account.delete")
    assert (entry.actor_kind, entry.actor_id) == ("user", superuser.pk)


def test_ending_one_session_leaves_the_others(db, superuser, app_user):
    phone = sign_in(app_user.email, agent="Phone/1.0")
    laptop = sign_in(app_user.email, agent="Laptop/2.0")
    listed = admin.user_sessions(actor=superuser, user_id=app_user.pk)
    assert {s.user_agent for s in listed} == {"Phone/1.0", "Laptop/2.0"}
    assert not any(hasattr(s, "session_key") for s in listed)
    laptop_id = next(s.id for s in listed if s.user_agent == "Laptop/2.0")

    admin.user_end_session(actor=superuser, user_id=app_user.pk, session_id=laptop_id)

    assert not works(laptop["access_token"])
    assert refresh(laptop["refresh_token"]).status_code == 401
    assert works(phone["access_token"])
    assert audit_actions(app_user.pk) == ["user.session.end"]


def test_a_session_of_another_user_is_not_found(db, superuser, app_user, make_user):
    other = make_user("other@example.com")
    sign_in(other.email)
    theirs = admin.user_sessions(actor=superuser, user_id=other.pk)[0]
    with pytest.raises(NotFound):
        admin.user_end_session(
            actor=superuser, user_id=app_user.pk, session_id=theirs.id
        )


def test_mfa_state_lists_the_second_factors(db, superuser, app_user):
    assert admin.user_mfa(actor=superuser, user_id=app_user.pk) == []
    Authenticator.objects.create(
        user=app_user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    Authenticator.objects.create(
        user=app_user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"}
    )
    kinds = [f["type"] for f in admin.user_mfa(actor=superuser, user_id=app_user.pk)]
    assert kinds == ["totp", "recovery_codes"]
    assert admin.mfa_types([app_user.pk]) == {app_user.pk: ["totp"]}


# --- send a password reset email (the link leads to apps.accounts.reset_page) ---------


def operator_request(superuser):
    from django.test import RequestFactory

    request = RequestFactory().post("/console/users/x/password-reset/")
    request.user = superuser
    return request


def reset_link(message) -> str:
    import re

    match = re.search(r"http://testserver/account/reset/[^/\s]+/", message.body)
    assert match, message.body
    return match.group(0)


def test_a_password_reset_email_carries_a_working_link(db, superuser, app_user):
    from django.core import mail

    from apps.accounts.reset_page import user_for_key
    from apps.hooks.models import AuditEntry

    admin.send_password_reset(
        actor=superuser, user_id=app_user.pk, request=operator_request(superuser)
    )

    message = mail.outbox[-1]
    assert message.to == [app_user.email]
    assert "administrator" in message.body and "3 days" in message.body
    key = reset_link(message).rstrip("/").rsplit("/", 1)[1]
    assert user_for_key(key) == app_user
    entry = AuditEntry.objects.get(
        target_id=app_user.pk, action="user.password_reset_sent"
    )
    assert (entry.actor_kind, entry.actor_id) == ("user", superuser.pk)
    assert entry.after["email"] == app_user.email
    assert login_status(app_user.email) == 200  # the password still works


def test_the_reset_link_dies_when_the_user_signs_in(db, superuser, app_user):
    from django.core import mail

    from apps.accounts.reset_page import user_for_key

    admin.send_password_reset(
        actor=superuser, user_id=app_user.pk, request=operator_request(superuser)
    )
    key = reset_link(mail.outbox[-1]).rstrip("/").rsplit("/", 1)[1]
    sign_in(app_user.email)
    assert user_for_key(key) is None


def test_no_reset_email_for_guests_disabled_accounts_or_app_users(
    db, superuser, app_user, make_user
):
    from django.core import mail

    from apps.accounts.models import User
    from apps.core.exceptions import InvalidInput

    guest = User.objects.create_guest()
    request = operator_request(superuser)
    with pytest.raises(InvalidInput):
        admin.send_password_reset(actor=superuser, user_id=guest.pk, request=request)
    admin.user_set_active(actor=superuser, user_id=app_user.pk, active=False)
    with pytest.raises(Conflict):
        admin.send_password_reset(actor=superuser, user_id=app_user.pk, request=request)
    other = make_user("other@example.com")
    with pytest.raises(Forbidden):
        admin.send_password_reset(actor=other, user_id=other.pk, request=request)
    with pytest.raises(NotFound):
        admin.send_password_reset(actor=superuser, user_id="nope", request=request)
    assert mail.outbox == []
    assert "user.password_reset_sent" not in audit_actions(app_user.pk)
