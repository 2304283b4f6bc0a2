"""`Authorization: Bearer` for API keys and allauth JWT access tokens."""

from __future__ import annotations

import time

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.apikeys import KEY_PREFIX, apikey_authenticate
from apps.accounts.models import User


class BearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        if request.META.get("HTTP_AUTHORIZATION") is None:
            return None  # a guest: collection rules decide what they may do
        parts = get_authorization_header(request).split()
        # Credentials that cannot be used are a 401, never a silent guest: a client with
        # a broken header must learn it, not get a guest's (empty) answers.
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            raise AuthenticationFailed("Malformed Authorization header.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Malformed Authorization header.") from None
        if token.startswith(KEY_PREFIX):
            principal = apikey_authenticate(token)
            if principal is None:
                raise AuthenticationFailed("Invalid or revoked API key.")
            return principal, principal
        return self._authenticate_jwt(token)

    def _authenticate_jwt(self, token: str):
        payload = _verified_payload(token)
        if payload is None:
            raise AuthenticationFailed("Invalid or expired access token.")
        user = active_user(payload["sub"], payload["_session"])
        if user is None:
            raise AuthenticationFailed("Invalid or expired access token.")
        return user, payload

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


def access_token_session(token: str) -> str | None:
    """The device session of a valid access token (signature, audience, expiry), for
    allauth's own endpoints: a live session of the token's own active account, or one that
    has ended (allauth then answers 410 `session_ended`, telling the app to sign in
    again); never a live session of another account (None: not signed in, 401)."""
    payload = _verified_payload(token)
    if payload is None:
        return None
    key = payload["_session"]
    if active_user(payload["sub"], key) is not None:
        return key
    live = Session.objects.filter(session_key=key, expire_date__gt=timezone.now())
    return None if live.exists() else key


_verified: dict[str, dict] = {}
MAX_VERIFIED = 10_000


def _verified_payload(token: str) -> dict | None:
    """The claims of a valid access token for this API (its audience), with the key of
    its device session as `_session`. A token whose signature was checked is remembered
    until it expires (an RS256 check costs more than the rest of a request); expiry is
    checked on every use, the session and the account on every request."""
    payload = _verified.get(token)
    if payload is not None:
        if payload.get("exp", 0) > time.time():
            return payload
        _verified.pop(token, None)
    from allauth.headless.tokens.strategies.jwt.internal import (
        session_key_from_sid,
        validate_access_token,
    )

    try:
        result = validate_access_token(token)
    except Exception:  # a malformed token must be a 401, whatever the decoder raised
        result = None
    if result is None:
        return None
    payload = dict(result[1])
    if payload.get("aud") != settings.JWT_AUDIENCE:
        return None
    if "exp" not in payload:  # (the decoder checks `exp` only when it is there)
        return None
    payload["_session"] = session_key_from_sid(payload["sid"])
    if not payload["_session"]:
        return None
    if len(_verified) >= MAX_VERIFIED:
        _verified.clear()
    _verified[token] = payload
    return payload


_USER_COLUMNS = [f.attname for f in User._meta.concrete_fields]
# A device session is a Django session plus allauth's record of whose it is (both made
# at sign-in, both deleted when it ends: apps.accounts.sessions).
_USER_SQL = (
    f"SELECT {', '.join(_USER_COLUMNS)} FROM {User._meta.db_table} "
    f"WHERE id = %s AND is_active AND EXISTS (SELECT 1 FROM {Session._meta.db_table} s "
    f"JOIN {UserSession._meta.db_table} u ON u.session_key = s.session_key "
    f"WHERE s.session_key = %s AND s.expire_date > %s "
    f"AND u.user_id = {User._meta.db_table}.id)"
)


def active_user(user_id, session_key: str) -> User | None:
    """The active account with this id while its device session lives and is its own,
    read on every request (a deactivated account, an ended session or another account's
    session is refused at once), with one raw indexed query: this is on every
    authenticated request's path."""
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 15:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_USER_SQL, [user_id, session_key, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    return User.from_db(connection.alias, _USER_COLUMNS, _from_db_values(row))


_converters: dict[str, list] = {}


def _from_db_values(row) -> list:
    """Django's own converters for the row (as a queryset would apply them)."""
    converters = _converters.get(connection.vendor)
    if converters is None:
        converters = []
        for index, field in enumerate(User._meta.concrete_fields):
            column = field.get_col(User._meta.db_table)
            for converter in connection.ops.get_db_converters(
                column
            ) + field.get_db_converters(connection):
                converters.append((index, converter, column))
        _converters[connection.vendor] = converters
    values = list(row)
    for index, converter, column in converters:
        values[index] = converter(values[index], column, connection)
    return values
