"""File tokens: short-lived, bound to one user and their device session, for URLs
(`?token=`) where an app cannot send an Authorization header (an <img> tag)."""

from __future__ import annotations

import datetime as dt
import time

import jwt
from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.authentication import active_user

AUDIENCE = "baas:file"
ALGORITHM = "HS256"


def issue(user_id: str, session_key: str) -> tuple[str, dt.datetime]:
    """A token for `user_id`'s session and when it expires."""
    expires = int(time.time()) + settings.BAAS_FILE_TOKEN_TTL
    token = jwt.encode(
        {"sub": user_id, "sid": session_key, "aud": AUDIENCE, "exp": expires},
        _key(),
        algorithm=ALGORITHM,
    )
    return token, dt.datetime.fromtimestamp(expires, dt.UTC)


def _key() -> str:
    return f"baas-file-token:{settings.SECRET_KEY}"


def user_for(token: str):
    """The active user a valid token is for, while its session lives; else None."""
    try:
        claims = jwt.decode(
            token,
            _key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "sid", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    return active_user(claims["sub"], claims["sid"])


class FileTokenAuthentication(BaseAuthentication):
    """`?token=` on a file URL; without one, the next authentication class decides."""

    def authenticate(self, request):
        token = request.query_params.get("token")
        if token is None:
            return None
        user = user_for(token)
        if user is None:
            raise AuthenticationFailed("Invalid or expired file token.")
        return user, {"file_token": True}

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
