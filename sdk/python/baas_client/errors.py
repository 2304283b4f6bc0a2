"""The one exception the client raises for API errors, mirroring the server's envelope."""

from __future__ import annotations

from typing import Any, TypedDict


class _ErrorItemRequired(TypedDict):
    code: str
    message: str


class ErrorItem(_ErrorItemRequired, total=False):
    """One entry of `{"status": 400, "errors": [...]}`: `param` only when there is one."""

    param: str


class BaasError(Exception):
    """An error answered by the server (`status` >= 400) or a failed request (`status` 0).

    `errors` is the server's list of `{code, message, param?}` items; `code`, `message` and
    `param` are those of the first item. `body` is the decoded response body, if any.
    """

    def __init__(
        self,
        status: int,
        errors: list[ErrorItem],
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.errors: list[ErrorItem] = errors or [
            {"code": "http_error", "message": f"HTTP {status}"}
        ]
        self.body = body
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}: {self.message}")

    @property
    def code(self) -> str:
        """Stable machine-readable code of the first error (e.g. `"invalid"`)."""
        return str(self.errors[0].get("code") or "error")

    @property
    def message(self) -> str:
        """Human-readable message of the first error."""
        return str(self.errors[0].get("message") or "")

    @property
    def param(self) -> str | None:
        """The field or query parameter the first error is about, if any."""
        return self.errors[0].get("param")

    def __repr__(self) -> str:
        return f"BaasError(status={self.status!r}, errors={self.errors!r})"
