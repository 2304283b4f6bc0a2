"""App-user auth: the allauth headless flows (`app` client), and the JWT pair they end in.

Sign-in calls return an `AuthResult`: either signed in (the tokens are stored) or a step
is pending (e.g. `"verify_email"`, `"mfa_authenticate"`); then the client keeps allauth's
session token for that flow and sends it (`X-Session-Token`) with the call that completes it.
"""

from __future__ import annotations

import base64
import json as jsonlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baas_client.errors import BaasError

if TYPE_CHECKING:
    from baas_client.client import ApiResponse, Client

TokensCallback = Callable[[str | None, str | None], None]

# Refresh before logging out when the access token expires within this many seconds.
_EXPIRY_MARGIN = 30


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


def _section(body: Any, key: str) -> Any:
    return body.get(key) if isinstance(body, dict) else None


def _flows(body: Any) -> list[dict[str, Any]] | None:
    """allauth's `data.flows` of a 401 answer, or None when the answer has none."""
    data = _section(body, "data")
    flows = data.get("flows") if isinstance(data, dict) else None
    if not isinstance(flows, list):
        return None
    return [flow for flow in flows if isinstance(flow, dict)]


def _pending_flow(flows: Sequence[dict[str, Any]]) -> str | None:
    """The id of the flow allauth marks pending (a sign-in step before a password reset)."""
    pending = [f.get("id") for f in flows if f.get("is_pending") is True]
    pending = [p for p in pending if isinstance(p, str)]
    for flow_id in pending:
        if flow_id != "password_reset_by_code":
            return flow_id
    return pending[0] if pending else None


def _data(body: Any) -> Any:
    return _section(body, "data")


def _jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without checking it (the server checks it)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = jsonlib.loads(base64.urlsafe_b64decode(payload)).get("exp")
    except (IndexError, ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, (int, float)) else None


@dataclass(frozen=True)
class AuthResult:
    """Where a sign-in call left the user.

    `signed_in`: the client holds tokens for `user`. `pending` names the next step, if
    any: `"verify_email"` (call `verify_email(code)`), `"mfa_authenticate"`
    (`mfa_authenticate(code)`), `"login_by_code"` (`confirm_login_code(code)`),
    `"password_reset_by_code"` (`reset_password(code, password)`). Usually a pending
    step means not signed in yet; `upgrade_guest()` is the exception (the guest stays
    signed in while the new address awaits its code). `flows` is allauth's list as
    answered (for `mfa_authenticate` its `types`, e.g. `["totp", "recovery_codes"]`).
    """

    user: dict[str, Any] | None = None
    pending: str | None = None
    flows: list[dict[str, Any]] = field(default_factory=list)
    signed_in: bool = False


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
        # allauth's session token of a flow in progress (sign-up awaiting its code, ...).
        self._session_token: str | None = None
        self._pending: str | None = None
        # Refresh tokens are single use: two threads must not spend the same one.
        self._lock = threading.RLock()
        # The SDK's own observers (the realtime connection): `(access, refresh)` after
        # every change of the tokens, before `on_tokens`; `()` before a logout.
        self._listeners: list[TokensCallback] = []
        self._logout_listeners: list[Callable[[], None]] = []

    @property
    def access_token(self) -> str | None:
        """The current access token (a JWT, valid for at most 15 minutes), if any."""
        return self._access_token

    @property
    def refresh_token(self) -> str | None:
        """The current refresh token (single use, rotated on every refresh), if any."""
        return self._refresh_token

    @property
    def pending(self) -> str | None:
        """The step a sign-in flow waits for (`"verify_email"`, ...), or None."""
        return self._pending

    @property
    def session_token(self) -> str | None:
        """allauth's session token of the flow in progress (sent as `X-Session-Token`)."""
        return self._session_token

    def set_tokens(self, access_token: str | None, refresh_token: str | None) -> None:
        """Replace the stored tokens, e.g. with ones an app persisted earlier."""
        with self._lock:
            self._access_token = access_token
            self._refresh_token = refresh_token
        for listener in list(self._listeners):
            listener(access_token, refresh_token)
        if self._on_tokens is not None:
            self._on_tokens(access_token, refresh_token)

    def clear(self) -> None:
        """Forget the stored tokens and any flow in progress (local only)."""
        self._end_flow()
        self.set_tokens(None, None)

    # --- sign-in flows -------------------------------------------------------------------

    def signup(self, email: str, password: str) -> AuthResult:
        """Create an account. Signed in at once, or (mandatory verification) pending
        `"verify_email"`: the server mailed a code; pass it to `verify_email()`."""
        return self._flow(
            "POST", "/auth/signup", {"email": email, "password": password}, start=True
        )

    def login(self, email: str, password: str) -> AuthResult:
        """Log in with email and password: signed in, or pending `"mfa_authenticate"`
        (call `mfa_authenticate(code)`) or `"verify_email"` (an unverified address).

        Raises `BaasError` 400 (e.g. code `"incorrect_credentials"`) on wrong credentials.
        """
        return self._flow(
            "POST", "/auth/login", {"email": email, "password": password}, start=True
        )

    def verify_email(self, code: str) -> AuthResult:
        """The code mailed after `signup()` (or `login()` of an unverified address), or
        after `change_email()` when signed in. Wrong code: `BaasError` 400, param `key`."""
        return self._flow("POST", "/auth/email/verify", {"key": code})

    def resend_verification(self, email: str | None = None) -> None:
        """Mail the verification code again: for the pending sign-up, or (signed in, with
        `email`) for an address added by `change_email()`. Too soon: `BaasError` 429/403."""
        if email is not None and self._session_token is None:
            self._client.request("PUT", "/account/email", json={"email": email})
            return
        self._session_call("POST", "/auth/email/verify/resend")

    def mfa_authenticate(self, code: str) -> AuthResult:
        """The second factor after `login()` answered pending `"mfa_authenticate"`: a TOTP
        code or a recovery code."""
        return self._flow("POST", "/auth/2fa/authenticate", {"code": code})

    def request_login_code(self, email: str) -> AuthResult:
        """Mail a one-time sign-in code (pending `"login_by_code"`); then
        `confirm_login_code(code)`. An unknown address looks the same (no enumeration)."""
        return self._flow("POST", "/auth/code/request", {"email": email}, start=True)

    def confirm_login_code(self, code: str) -> AuthResult:
        """The code mailed by `request_login_code()`: signed in (or pending MFA)."""
        return self._flow("POST", "/auth/code/confirm", {"code": code})

    def request_password_reset(self, email: str) -> AuthResult:
        """Mail a password reset code (pending `"password_reset_by_code"`); then
        `reset_password(code, password)`. An unknown address looks the same."""
        return self._flow(
            "POST", "/auth/password/request", {"email": email}, start=True
        )

    def check_password_reset_code(self, code: str) -> dict[str, Any]:
        """Optional: check the reset code before asking for a new password; returns the
        user it belongs to. A wrong code is `BaasError` 400 (attempts are limited)."""
        body = self._session_call(
            "GET", "/auth/password/reset", headers={"X-Password-Reset-Key": code}
        ).body
        user = _section(_data(body), "user")
        return user if isinstance(user, dict) else {}

    def reset_password(self, code: str, password: str) -> AuthResult:
        """Set a new password with the mailed code. Every device session of the account
        ends; the result is not signed in (log in with the new password)."""
        return self._flow(
            "POST",
            "/auth/password/reset",
            {"key": code, "password": password},
            done_on_401=True,
        )

    def sign_in_with_id_token(
        self, provider: str, id_token: str, client_id: str
    ) -> AuthResult:
        """Native social sign-in: the ID token a provider SDK (Google, Apple, ...) gave
        the app, for the app's OAuth `client_id`."""
        return self._flow(
            "POST",
            "/auth/provider/token",
            {
                "provider": provider,
                "process": "login",
                "token": {"client_id": client_id, "id_token": id_token},
            },
            start=True,
        )

    def guest(self) -> AuthResult:
        """Sign in as a new guest (an account without email or password)."""
        return self._flow("POST", "/auth/guest", {}, start=True)

    def upgrade_guest(self, email: str, password: str) -> AuthResult:
        """Give the signed-in guest an email and password (may be pending
        `"verify_email"`, like `signup()`)."""
        return self._flow(
            "POST",
            "/auth/guest/upgrade",
            {"email": email, "password": password},
            signed_in=True,
        )

    def reauthenticate(self, password: str) -> AuthResult:
        """Confirm the password before a sensitive call that answered `BaasError` 401
        code `"reauthentication_required"` (e.g. `delete_account()`)."""
        return self._flow(
            "POST", "/auth/reauthenticate", {"password": password}, signed_in=True
        )

    # --- signed-in account -----------------------------------------------------------------

    def change_password(self, current_password: str, new_password: str) -> None:
        """Change the password. Every other device is signed out; this one gets a new
        token pair (stored here). Wrong current password: `BaasError` 400."""
        body = self._client.request_object(
            "POST",
            "/account/password/change",
            json={
                "current_password": current_password,
                "new_password": new_password,
            },
        )
        self._store_tokens(body)

    def change_email(self, email: str) -> list[dict[str, Any]]:
        """Start changing the address: the server mails a code to `email`; it replaces the
        current address once `verify_email(code)` confirms it. Returns `list_emails()`."""
        body = self._client.request_object(
            "POST", "/account/email", json={"email": email}
        )
        return _list(_data(body))

    def list_emails(self) -> list[dict[str, Any]]:
        """The account's addresses: `[{"email", "verified", "primary"}, ...]`."""
        return _list(_data(self._client.request_object("GET", "/account/email")))

    def sessions(self) -> list[dict[str, Any]]:
        """The account's device sessions: `[{"id", "is_current", "created_at", "ip",
        "user_agent"}, ...]`."""
        return _list(_data(self._client.request_object("GET", "/auth/sessions")))

    def end_sessions(self, ids: Sequence[int | str]) -> list[dict[str, Any]]:
        """Sign these device sessions out (their tokens stop working); returns the rest."""
        body = self._client.request_object(
            "DELETE", "/auth/sessions", json={"sessions": list(ids)}
        )
        return _list(_data(body))

    def logout(self) -> None:
        """End this device session on the server and forget the tokens here (always,
        even when the server cannot be reached; the error is raised afterwards).
        `client.realtime`, if open, goes on anonymously (see its docs)."""
        for listener in list(self._logout_listeners):
            listener()
        try:
            token = self._live_access_token()
            if token:
                self._client.send(
                    "DELETE",
                    "/auth/session",
                    headers={"Authorization": f"Bearer {token}"},
                    authenticate=False,
                )
        except BaasError as exc:
            # 401 is allauth's answer to a logout: no one is signed in any more.
            if exc.status not in (401, 410):
                raise
        finally:
            self.clear()

    def delete_account(self) -> None:
        """Delete the account and forget the tokens. May raise `BaasError` 401 code
        `"reauthentication_required"`: call `reauthenticate(password)`, then again."""
        self._client.request("DELETE", "/account")
        self.clear()

    def export_account(self) -> dict[str, Any]:
        """Everything the server holds about the account, as JSON."""
        return self._client.request_object("GET", "/account/export")

    # --- tokens --------------------------------------------------------------------------

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

    # --- internals -----------------------------------------------------------------------

    def _end_flow(self) -> None:
        self._session_token = None
        self._pending = None

    def _store_tokens(self, body: Any) -> bool:
        """Store the pair an answer carries (a sign-in); False when it carries none."""
        meta = _section(body, "meta")
        access = meta.get("access_token") if isinstance(meta, dict) else None
        if not isinstance(access, str):
            return False
        refresh = meta.get("refresh_token")
        self._end_flow()
        self.set_tokens(access, refresh if isinstance(refresh, str) else None)
        return True

    def _live_access_token(self) -> str | None:
        """The access token, refreshed first if it has expired (or is about to)."""
        token = self._access_token
        expiry = _jwt_expiry(token) if token else None
        if self._refresh_token and (
            token is None or expiry is None or expiry < time.time() + _EXPIRY_MARGIN
        ):
            try:
                self.refresh()
            except BaasError as exc:
                if 400 <= exc.status < 500:
                    return None  # the session is over already
                raise
            token = self._access_token
        return token

    def _session_call(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        """A call that continues the flow in progress (its `X-Session-Token`)."""
        if self._session_token is None:
            raise BaasError(
                0,
                [
                    {
                        "code": "no_pending_flow",
                        "message": "No sign-in flow is in progress; start one first.",
                    }
                ],
            )
        extra = {"X-Session-Token": self._session_token, **(headers or {})}
        try:
            return self._client.send(
                method, path, json=json, headers=extra, authenticate=False
            )
        except BaasError as exc:
            if exc.status == 410:  # the flow's session expired or was ended
                self._end_flow()
            raise

    def _flow(
        self,
        method: str,
        path: str,
        json: Any,
        *,
        start: bool = False,
        signed_in: bool = False,
        done_on_401: bool = False,
    ) -> AuthResult:
        """One step of a sign-in flow.

        `start`: begins a new flow (no credential, no session token). `signed_in`: the
        signed-in user's call (Bearer). Otherwise the flow in progress continues with its
        session token, or, when there is none, the signed-in user's (e.g. verifying a
        changed address). A 401 naming a pending flow is a result, not an error.
        """
        if start:
            self._end_flow()
        try:
            if start:
                response = self._client.send(
                    method, path, json=json, authenticate=False
                )
            elif signed_in or self._session_token is None:
                response = self._client.send(method, path, json=json)
            else:
                response = self._session_call(method, path, json)
        except BaasError as exc:
            flows = _flows(exc.body) if exc.status == 401 else None
            if flows is None:
                raise
            meta = _section(exc.body, "meta")
            if isinstance(meta, dict) and meta.get("is_authenticated") is True:
                raise  # signed in, but this call wants a fresh password first
            pending = _pending_flow(flows)
            if pending is not None:
                token = meta.get("session_token") if isinstance(meta, dict) else None
                if isinstance(token, str):
                    self._session_token = token
                self._pending = pending
                return AuthResult(None, pending, flows, False)
            if done_on_401:
                self._end_flow()
                return AuthResult(None, None, flows, False)
            raise
        body = response.body
        self._store_tokens(body)
        user = _section(_data(body), "user")
        # A signed-in answer may still name a step (a guest's new address to verify).
        flows = _flows(body) or []
        pending = _pending_flow(flows)
        self._pending = pending
        return AuthResult(user if isinstance(user, dict) else {}, pending, flows, True)


def _list(value: Any) -> list[dict[str, Any]]:
    return (
        [item for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )
