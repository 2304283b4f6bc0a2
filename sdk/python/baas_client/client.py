"""The client: one HTTP session, credentials, and the API areas hanging off it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import requests

from baas_client._multipart import Multipart
from baas_client._util import expect_object
from baas_client.auth import Auth, TokensCallback
from baas_client.errors import BaasError, ErrorItem
from baas_client.files import Files
from baas_client.push import Push
from baas_client.realtime import Realtime
from baas_client.records import BatchOperation, RecordCollection
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


class BatchResponse(TypedDict):
    """One answer of `client.batch()`: what the single request would have returned."""

    status: int
    body: Any


@dataclass(frozen=True)
class ApiResponse:
    """A whole answer of `client.send()`: status, decoded JSON body (None when empty),
    and headers (a case-insensitive mapping)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def replayed(self) -> bool:
        """True when the server replayed a stored answer for a reused Idempotency-Key."""
        return self.headers.get("Idempotent-Replayed", "").lower() == "true"


def new_idempotency_key() -> str:
    """A fresh random Idempotency-Key (a UUID4): make one per logical operation, keep it,
    and send it again with every retry of that operation."""
    return str(uuid.uuid4())


def api_root(base_url: str) -> str:
    """`https://host` or `https://host/api/v1` (trailing slash or not) → `https://host/api/v1`."""
    root = base_url.rstrip("/")
    if not root.endswith(API_PREFIX):
        root += API_PREFIX
    return root


def reauthentication_required(status: int, body: Any) -> bool:
    """allauth's 401 for a signed-in user whose call needs the password confirmed first."""
    meta = body.get("meta") if isinstance(body, dict) else None
    return (
        status == 401
        and isinstance(meta, dict)
        and meta.get("is_authenticated") is True
    )


def session_ended(status: int, body: Any) -> bool:
    """allauth's 410: the device session the credentials name no longer exists."""
    meta = body.get("meta") if isinstance(body, dict) else None
    return (
        status == 410
        and isinstance(meta, dict)
        and not meta.get("is_authenticated")
        and not body.get("errors")
    )


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
    if not items and reauthentication_required(status, body):
        items.append(
            {
                "code": "reauthentication_required",
                "message": "Confirm the password first (auth.reauthenticate()).",
            }
        )
    if not items and session_ended(status, body):
        items.append(
            {
                "code": "session_ended",
                "message": "This device session has ended; sign in again.",
            }
        )
    if not items:
        code = _DEFAULT_CODES.get(
            status, "server_error" if status >= 500 else "http_error"
        )
        items.append({"code": code, "message": f"The server answered HTTP {status}."})
    return items


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


class Client:
    """A client for one BaaS server.

    `token` is an app user's access token, `api_key` a server-side key (`bk_...`); either
    travels as `Authorization: Bearer` (a user's access token wins when both are known).
    After a sign-in (`auth.login()`, `auth.signup()`, ...) the user's tokens are used and,
    when the access token has expired, refreshed once automatically on a 401.
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
        self.files = Files(self)
        self.push = Push(self)
        self._realtime: Realtime | None = None

    @property
    def realtime(self) -> Realtime:
        """Record events and channels over one WebSocket, made on first use (the
        connection opens with the first subscription): `client.realtime.subscribe(
        "posts", callback)`, `client.realtime.channel(name)`."""
        if self._realtime is None:
            self._realtime = Realtime(self)
        return self._realtime

    def collection(self, name: str) -> RecordCollection:
        """Records of one collection: `client.collection("posts").list()`."""
        return RecordCollection(self, name)

    def close(self) -> None:
        """Close the realtime connection (`realtime.close()`), then the HTTP session and
        its pooled connections, now.

        urllib3 2 leaves pooled connections to the garbage collector when a session
        closes, and a `BaasError` still referenced (its traceback holds the response,
        which holds its pool) would keep a socket open; so the pools are closed here.
        """
        if self._realtime is not None:
            self._realtime.close()
        for adapter in self.session.adapters.values():
            pools = getattr(getattr(adapter, "poolmanager", None), "pools", None)
            for key in list(pools.keys()) if pools is not None else []:
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
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
        extra_headers: Mapping[str, str] | None = None,
        multipart: Multipart | None = None,
    ) -> requests.Response:
        headers: dict[str, str] = {"Accept": "application/json"}
        if extra_headers:
            headers.update(extra_headers)
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {}
        body = None
        if multipart is not None:
            # A fresh stream each time: a retry after a refresh sends the files again.
            body = kwargs["data"] = multipart.open()
            headers["Content-Type"] = multipart.content_type
        elif json is not None:
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
        finally:
            if body is not None:
                body.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
        multipart: Multipart | None = None,
    ) -> ApiResponse:
        """Send one request to `path` (below `/api/v1`) and return the whole answer.

        Like `request()`, but the status and headers come back too (e.g. `ETag`,
        `Idempotent-Replayed`). A 304 is an answer with `body` None, not an error.
        `idempotency_key` is sent as the `Idempotency-Key` header (mutating requests).
        `multipart` (record data with files, see `RecordCollection.create()`) is sent
        as a streamed multipart/form-data body instead of `json`.
        """
        extra = dict(headers or {})
        if idempotency_key is not None:
            extra["Idempotency-Key"] = idempotency_key
        bearer = self._bearer() if authenticate else None
        response = self._send(method, path, params, json, bearer, extra, multipart)
        if (
            response.status_code == 401
            and authenticate
            and self.auth.refresh_token
            and (bearer is None or bearer != self.api_key)
            and not reauthentication_required(401, _json_or_none(response))
            and self.auth._recover_from_401(bearer)
        ):
            # The same Idempotency-Key again: the 401 had no effect, and the server keys
            # stored answers by caller, so the retry under the new token runs once.
            response = self._send(
                method, path, params, json, self._bearer(), extra, multipart
            )
        if (
            response.status_code == 410
            and bearer is not None
            and bearer == self.auth.access_token
            and session_ended(410, _json_or_none(response))
        ):
            # allauth's answer to a token whose device session was ended (logout on
            # another device, password change, ...): the refresh token is dead with it.
            self.auth.clear()
        return ApiResponse(
            status=response.status_code,
            body=self._decode(response),
            headers=response.headers,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
    ) -> Any:
        """Send one request to `path` (below `/api/v1`) and return the decoded JSON body.

        A 204 returns None. Any status >= 400 raises `BaasError`. With `authenticate`, the
        stored credential is sent, and a 401 is retried once after refreshing the tokens
        when a refresh token is known. `idempotency_key` is sent as `Idempotency-Key`.
        """
        return self.send(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key,
            authenticate=authenticate,
        ).body

    def request_object(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
    ) -> dict[str, Any]:
        """`request()` for endpoints that answer a JSON object (anything else is an error)."""
        body = self.request(
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            idempotency_key=idempotency_key,
            authenticate=authenticate,
        )
        return expect_object(body)

    def fn(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call a route of the server's hooks modules (`@route`, served under
        `/api/v1/fn`): `client.fn("GET", "/stats")`. Returns the decoded JSON body (None
        for 204); an error status raises `BaasError` like every other call."""
        if not path.startswith("/"):
            path = "/" + path
        return self.request(
            method.upper(),
            "/fn" + path,
            json=json,
            params=params,
            idempotency_key=idempotency_key,
        )

    def batch(
        self,
        operations: Sequence[BatchOperation],
        *,
        idempotency_key: str | None = None,
    ) -> list[BatchResponse]:
        """Run record operations in one transaction, all or nothing (at most 100).

        Build the operations with a collection's `op_create()`, `op_update()`,
        `op_delete()`, `op_get()` and `op_list()`, or as `{"method", "url", "body"}` dicts.
        Returns `[{"status", "body"}, ...]` in order (201 with the record for a create,
        200 for an update or read, 204 with body None for a delete). If one operation
        fails nothing is written, and `BaasError` carries that operation's status and
        errors, each `param` prefixed `requests.<index>.` (e.g. `"requests.1.title"`).
        """
        body = self.request_object(
            "POST",
            "/batch",
            json={"requests": list(operations)},
            idempotency_key=idempotency_key,
        )
        responses = body.get("responses")
        if not isinstance(responses, list):
            raise BaasError(
                200,
                [{"code": "invalid_response", "message": "Expected `responses`."}],
                body=body,
            )
        return responses

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
