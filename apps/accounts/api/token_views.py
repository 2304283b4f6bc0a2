"""POST /api/v1/tokens/refresh: allauth's view, with a 401 that says why."""

from __future__ import annotations

from allauth.headless.constants import Client
from allauth.headless.tokens.views import RefreshTokenView as AllauthRefreshTokenView

from apps.core.errors import json_error


class _RefreshTokenView(AllauthRefreshTokenView):
    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if response.status_code == 400 and not self.input.errors:
            return json_error(
                401,
                "invalid_token",
                "The refresh token is invalid, expired, revoked or already used; "
                "sign in again.",
                param="refresh_token",
            )
        return response


class RefreshTokenView:
    @staticmethod
    def as_view():
        return _RefreshTokenView.as_api_view(client=Client.APP)
