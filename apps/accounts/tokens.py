"""Access and refresh tokens: allauth's JWT strategy, with a rotating refresh token whose
reuse revokes the whole device session, and an audience on every access token.

A device session (one sign-in) is a Django session; the tokens carry its key encrypted
(`sid`). Revoking the session (logout, reuse, password change, deactivation, the sessions
endpoint) stops its refresh token at once and its access tokens on their next request
(`authentication.active_user` checks the session with the user).
"""

from __future__ import annotations

import time
from typing import Any

from allauth.core.internal.httpkit import get_authorization_credential
from allauth.headless import app_settings as headless_settings
from allauth.headless.tokens.strategies.jwt import JWTTokenStrategy
from allauth.headless.tokens.strategies.jwt import internal as jwt_internal
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.accounts import sessions
from apps.accounts.authentication import access_token_session


class TokenStrategy(JWTTokenStrategy):
    def get_claims(self, user) -> dict[str, Any]:
        return {"aud": settings.JWT_AUDIENCE}

    def get_session_token(self, request: HttpRequest) -> str | None:
        """The flow's X-Session-Token, else the device session of the bearer access
        token, which allauth's own endpoints accept only as the rest of the API does
        (authentication.access_token_session); once per request."""
        token = request.headers.get("x-session-token")
        if token:
            return token
        if not hasattr(request, "_bearer_session"):
            credential = get_authorization_credential(
                request, headless_settings.JWT_AUTHORIZATION_HEADER_SCHEME
            )
            request._bearer_session = (
                None if credential is None else access_token_session(credential)
            )
        return request._bearer_session

    def refresh_token(self, refresh_token: str) -> tuple[str, str] | None:
        """Rotate: the presented token is spent and a new pair is issued. A token that
        was already spent (stolen and raced, or replayed) ends the device session, so
        neither the thief nor the owner can refresh again without signing in."""
        payload = jwt_internal.decode_token(refresh_token, "refresh")
        if payload is None:
            return None
        session_key = jwt_internal.session_key_from_sid(payload["sid"])
        if not session_key:
            return None
        with transaction.atomic():
            # Serialise refreshes of one session (SQLite: the IMMEDIATE transaction).
            locked = (
                Session.objects.select_for_update()
                .filter(session_key=session_key, expire_date__gt=timezone.now())
                .values_list("session_key", flat=True)
                .first()
            )
            if locked is None:
                return None
            session = jwt_internal.lookup_session(session_key)
            if session is None:
                return None
            issued = jwt_internal.get_refresh_token_state(session)
            if issued.get(payload["jti"], 0) <= time.time():
                # Signed by us for this live session but no longer current: reuse.
                sessions.end_session(session_key)
                return None
            user = jwt_internal.validate_token_user(payload, session)
            if user is None or not user.is_active:
                sessions.end_session(session_key)
                return None
            jwt_internal.invalidate_refresh_token(session, payload)
            access_token = jwt_internal.create_access_token(
                user, session, self.get_claims(user)
            )
            next_refresh_token = jwt_internal.create_refresh_token(user, session)
            session.save()
            sessions.touch(session_key)
        return access_token, next_refresh_token
