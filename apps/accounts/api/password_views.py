"""POST /api/v1/account/password/change: allauth's view, and this device stays signed in.

A new password ends every device session (apps.accounts.signals); allauth then gives the
device that changed it a new session (`update_session_auth_hash`), which its tokens do
not name. So the answer carries a new token pair for that session, as a login's does.
"""

from __future__ import annotations

import json

from allauth.headless import app_settings
from allauth.headless.account.views import ChangePasswordView as AllauthChangePassword
from allauth.headless.constants import Client


class _ChangePasswordView(AllauthChangePassword):
    def post(self, request, *args, **kwargs):
        before = request.session.session_key
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200 and request.session.session_key != before:
            body = json.loads(response.content)
            strategy = app_settings.TOKEN_STRATEGY
            body["meta"].update(strategy.create_access_token_payload(request) or {})
            response.content = json.dumps(body)
        return response


change_password = _ChangePasswordView.as_api_view(client=Client.APP)
