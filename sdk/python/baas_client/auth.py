"""App-user auth: log in with email and password, hold and refresh the JWT pair."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from baas_client.errors import BaasError

if TYPE_CHECKING:
    from baas_client.client import Client

TokensCallback = Callable[[str | None, str | None], None]


def _pick(body: Any, key: str) -> str | None:
    """A token from allauth's answer: `data` for a refresh, `meta` for a login."""
    if not isinstance(body, dict):
        return None
    for part in ("data", "meta"):
        section = body.get(part)
        value = section.get(key) if isinstance(section, dict) else None
        if isinstance(value, str):
            return value
    return None


def _access_token(body: Any, answer: str) -> str:
    """The access token of a login or refresh answer; an answer without one is an error."""
    access = _pick(body, "access_token")
    if access is None:
        raise BaasError(
            200,
            [
                {
                    "code": "invalid_response",
                    "message": f"The {answer} answer has no access token.",
                }
            ],
            body=body,
        )
    return access


class Auth:
    """`client.auth`: the allauth headless endpoints (`app` client) and the stored tokens."""

    def __init__(
        self,
        client: Client,
        access_token: str | None,
        refresh_token: str | None,
        on_tokens: TokensCallback | None,
    ) -> None:
        self._client = client
        self._access_token = access_token
        self._refresh_token = refresh_token
        self._on_tokens = on_tokens
        # Refresh tokens are single use: two threads must not spend the same one.
        self._lock = threading.RLock()

    @property
    def access_token(self) -> str | None:
        """The current access token (a JWT, valid for at most 15 minutes), if any."""
        return self._access_token

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token (single use, rotated on every refresh), if any."""
        return self._refresh_token

    def set_tokens(self, access_token: str | None, refresh_token: str | None) -> None:
        """Replace the stored tokens, e.g. with ones an app persisted earlier."""
        with self._lock:
            self._access_token = access_token
            self._refresh_token = refresh_token
        if self._on_tokens is not None:
            self._on_tokens(access_token, refresh_token)

    def clear(self) -> None:
        """Forget the stored tokens (local only; the server is not called)."""
        self.set_tokens(None, None)

    def login(self, email: str, password: str) -> dict[str, Any]:
        """Log in with email and password, store the tokens, and return the user.

        Raises `BaasError` (400, e.g. code `"incorrect_credentials"`) on wrong credentials,
        or 401 when allauth needs another step first (the pending flows are in `.body`).
        """
        body = self._client.request_object(
            "POST",
            "/auth/login",
            json={"email": email, "password": password},
            authenticate=False,
        )
        access = _access_token(body, "login")
        self.set_tokens(access, _pick(body, "refresh_token"))
        data = body.get("data")
        user = data.get("user") if isinstance(data, dict) else None
        return user if isinstance(user, dict) else {}

    def refresh(self) -> dict[str, str | None]:
        """Exchange the refresh token for a new pair, store it, and return it.

        The server rotates refresh tokens: the old one is spent (reusing it revokes the
        whole chain), so the new one replaces it here at once.
        """
        with self._lock:
            if not self._refresh_token:
                raise BaasError(
                    0,
                    [
                        {
                            "code": "no_refresh_token",
                            "message": "No refresh token is known; log in first.",
                        }
                    ],
                )
            body = self._client.request_object(
                "POST",
                "/tokens/refresh",
                json={"refresh_token": self._refresh_token},
                authenticate=False,
            )
            access = _access_token(body, "refresh")
            refresh = _pick(body, "refresh_token") or self._refresh_token
            self.set_tokens(access, refresh)
            return {"access_token": access, "refresh_token": refresh}

    def _recover_from_401(self, used_token: str | None) -> bool:
        """After a 401 sent with `used_token`: True if a retry may succeed.

        Another thread may have refreshed meanwhile; then its token is used as is. If the
        server rejects the refresh token (4xx), the tokens are dead and are cleared.
        """
        with self._lock:
            if self._access_token and self._access_token != used_token:
                return True
            try:
                self.refresh()
            except BaasError as exc:
                if 400 <= exc.status < 500:
                    self.clear()
                    return False
                raise
            return True
