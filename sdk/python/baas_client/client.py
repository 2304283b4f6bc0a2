"""The client: one HTTP session, credentials, and the API areas hanging off it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from baas_client.auth import Auth, TokensCallback
from baas_client.errors import BaasError, ErrorItem
from baas_client.records import RecordCollection
from baas_client.schema import Collections, Schema

API_PREFIX = "/api/v1"
DEFAULT_TIMEOUT = 30.0

# The code given to an error response that carries no `errors` list of its own (e.g. a
# proxy's HTML page, or allauth's 401 that lists pending flows instead of errors).
_DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def api_root(base_url: str) -> str:
    """`https://host` or `https://host/api/v1` (trailing slash or not) → `https://host/api/v1`."""
    root = base_url.rstrip("/")
    if not root.endswith(API_PREFIX):
        root += API_PREFIX
    return root


def _error_items(body: Any, status: int) -> list[ErrorItem]:
    raw = body.get("errors") if isinstance(body, dict) else None
    items: list[ErrorItem] = []
    if isinstance(raw, list):
        for entry in raw:
            if not isinstance(entry, dict):
                continue
            item: ErrorItem = {
                "code": str(entry.get("code") or _DEFAULT_CODES.get(status, "error")),
                "message": str(entry.get("message") or ""),
            }
            if entry.get("param") is not None:
                item["param"] = str(entry["param"])
            items.append(item)
    if not items:
        code = _DEFAULT_CODES.get(
            status, "server_error" if status >= 500 else "http_error"
        )
        items.append({"code": code, "message": f"The server answered HTTP {status}."})
    return items


class Client:
    """A client for one BaaS server.

    `token` is an app user's access token, `api_key` a server-side key (`bk_...`); either
    travels as `Authorization: Bearer` (a user's access token wins when both are known).
    After `auth.login()` the user's tokens are used and, when the access token has
    expired, refreshed once automatically on a 401.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        api_key: str | None = None,
        *,
        refresh_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        on_tokens: TokensCallback | None = None,
    ) -> None:
        """`on_tokens(access, refresh)` is called whenever the stored tokens change
        (login, refresh, clear), so an app can persist them."""
        self.base_url = api_root(base_url)
        self.api_key = api_key
        self.timeout = timeout
        self.session = session or requests.Session()
        self.auth = Auth(self, token, refresh_token, on_tokens)
        self.collections = Collections(self)
        self.schema = Schema(self)

    def collection(self, name: str) -> RecordCollection:
        """Records of one collection: `client.collection("posts").list()`."""
        return RecordCollection(self, name)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Client:  # noqa: PYI034  (typing.Self is 3.11+)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- transport ----------------------------------------------------------------------

    def _bearer(self) -> str | None:
        return self.auth.access_token or self.api_key

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        bearer: str | None,
    ) -> requests.Response:
        headers: dict[str, str] = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        try:
            return self.session.request(
                method,
                self.base_url + path,
                params=params or None,
                headers=headers,
                timeout=self.timeout,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise BaasError(
                0, [{"code": "network_error", "message": str(exc)}]
            ) from exc

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        authenticate: bool = True,
    ) -> Any:
        """Send one request to `path` (below `/api/v1`) and return the decoded JSON body.

        A 204 returns None. Any status >= 400 raises `BaasError`. With `authenticate`, the
        stored credential is sent, and a 401 is retried once after refreshing the tokens
        when a refresh token is known.
        """
        bearer = self._bearer() if authenticate else None
        response = self._send(method, path, params, json, bearer)
        if (
            response.status_code == 401
            and authenticate
            and self.auth.refresh_token
            and (bearer is None or bearer != self.api_key)
            and self.auth._recover_from_401(bearer)
        ):
            response = self._send(method, path, params, json, self._bearer())
        return self._decode(response)

    def request_object(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        authenticate: bool = True,
    ) -> dict[str, Any]:
        """`request()` for endpoints that answer a JSON object (anything else is an error)."""
        body = self.request(
            method, path, params=params, json=json, authenticate=authenticate
        )
        if not isinstance(body, dict):
            raise BaasError(
                200,
                [{"code": "invalid_response", "message": "Expected a JSON object."}],
                body=body,
            )
        return body

    @staticmethod
    def _decode(response: requests.Response) -> Any:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
                if response.ok:
                    raise BaasError(
                        response.status_code,
                        [
                            {
                                "code": "invalid_response",
                                "message": "The body is not JSON.",
                            }
                        ],
                    ) from None
        if response.status_code >= 400:
            raise BaasError(
                response.status_code,
                _error_items(body, response.status_code),
                body=body,
                headers=dict(response.headers),
            )
        return body
