"""`client.files`: download URLs, file tokens for protected files, and direct uploads of
large files to S3-compatible storage. Files are otherwise uploaded with a record's
`create()` / `update()`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import requests

from baas_client._multipart import Body, FilePart, FileValue
from baas_client._util import expect_object, segment
from baas_client.errors import BaasError

if TYPE_CHECKING:
    from baas_client.client import Client

# A cached file token is used until this many seconds before it expires.
TOKEN_MARGIN = 10.0


@dataclass(frozen=True)
class _Token:
    token: str
    until: float  # time.monotonic()
    bearer: str | None


def _lifetime(expires: Any, server_date: str | None) -> float:
    """Seconds until `expires`, on the server's clock (its Date header) when known."""
    try:
        end = datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    try:
        now = parsedate_to_datetime(server_date) if server_date else None
    except (TypeError, ValueError):
        now = None
    now = now or datetime.now(timezone.utc)
    utc = [t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (end, now)]
    return (utc[0] - utc[1]).total_seconds()


class Files:
    """`client.files`: file URLs, file tokens and direct uploads."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def url(
        self,
        collection: str,
        record_id: str,
        name: str,
        *,
        thumb: str | None = None,
        token: str | None = None,
        download: bool = False,
    ) -> str:
        """The download URL of a stored file (no request is made).

        `name` is the value of the record's file field. `thumb="100x100"` asks for a
        thumbnail (a size the field's `thumbs` option lists), `token` (from
        `get_token()`) opens a protected file, `download=True` asks for
        `Content-Disposition: attachment`.
        """
        path = "/".join(segment(part) for part in (collection, record_id, name))
        query = {
            key: value
            for key, value in (
                ("thumb", thumb),
                ("token", token),
                ("download", "1" if download else None),
            )
            if value
        }
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self._client.base_url}/files/{path}{suffix}"

    def get_token(self) -> str:
        """A short-lived file token for the signed-in user, for `url(token=...)`.

        Kept and reused until about 10 seconds before it expires (threads share one
        request). For signed-in users: an API key gets 403, and server code sends its
        key in the Authorization header of the download instead.
        """
        with self._lock:
            cached = self._token
            if (
                cached is not None
                and cached.bearer == self._client._bearer()
                and time.monotonic() < cached.until
            ):
                return cached.token
            answer = self._client.send("POST", "/files/token")
            body = expect_object(answer.body)
            token = body.get("token")
            if not isinstance(token, str) or not token:
                raise BaasError(
                    answer.status,
                    [{"code": "invalid_response", "message": "Expected `token`."}],
                    body=body,
                )
            lifetime = _lifetime(body.get("expires"), answer.headers.get("Date"))
            # The bearer after the call: a 401 may have refreshed it on the way.
            self._token = _Token(
                token,
                time.monotonic() + lifetime - TOKEN_MARGIN,
                self._client._bearer(),
            )
            return token

    def upload(
        self,
        collection: str,
        record_id: str,
        field: str,
        file: FileValue,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Upload a large file straight to storage and attach it to a record's field.

        S3-compatible storage only: the server hands out a presigned URL, the bytes go
        there (streamed), then the server checks the upload and returns the updated
        record (a single field's file replaced, a multiple field's appended). `name`
        defaults to the file's own name. On local storage this raises 409
        `direct_uploads_unavailable`.
        """
        part = FilePart.of(field, file, name)
        upload = self._client.request_object(
            "POST",
            "/files/uploads",
            json={
                "collection": collection,
                "record": record_id,
                "field": field,
                "name": part.filename,
                "size": part.size,
            },
        )
        self._put(upload, part)
        return self._client.request_object(
            "POST", f"/files/uploads/{segment(str(upload.get('id')))}/complete"
        )

    def _put(self, upload: dict[str, Any], part: FilePart) -> None:
        """Send the bytes with exactly the method and headers the server gave."""
        url = upload.get("url")
        if not isinstance(url, str):
            raise BaasError(
                200,
                [{"code": "invalid_response", "message": "Expected `url`."}],
                body=upload,
            )
        body = Body([part], part.size)
        try:
            response = self._client.session.request(
                str(upload.get("method") or "PUT"),
                url,
                data=body,
                headers=dict(upload.get("headers") or {}),
                timeout=self._client.timeout,
            )
        except requests.RequestException as exc:
            raise BaasError(
                0, [{"code": "network_error", "message": str(exc)}]
            ) from exc
        finally:
            body.close()
        with response:
            if response.status_code >= 400:
                raise BaasError(
                    response.status_code,
                    [
                        {
                            "code": "upload_failed",
                            "message": "The storage refused the upload "
                            f"(HTTP {response.status_code}).",
                        }
                    ],
                    body=response.text,
                    headers=dict(response.headers),
                )
