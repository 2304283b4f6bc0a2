"""`Authorization: Bearer` for API keys and allauth JWT access tokens."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.accounts.apikeys import KEY_PREFIX, apikey_authenticate
from apps.accounts.models import User


class BearerAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
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
        from allauth.headless.tokens.strategies.jwt.internal import (
            validate_access_token,
        )

        try:
            result = validate_access_token(token)
        except (
            Exception
        ):  # a malformed token must be a 401, whatever the decoder raised
            result = None
        if result is None:
            raise AuthenticationFailed("Invalid or expired access token.")
        _, payload = result
        user = User.objects.filter(pk=payload.get("sub"), is_active=True).first()
        if user is None:
            raise AuthenticationFailed("Invalid or expired access token.")
        return user, payload

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
