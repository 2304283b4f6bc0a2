"""Domain exceptions: raised by services, mapped to the API error envelope in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ErrorItem:
    code: str
    message: str
    param: str | None = None

    def as_dict(self) -> dict:
        item = {"code": self.code, "message": self.message}
        if self.param is not None:
            item["param"] = self.param
        return item


class ApiError(Exception):
    """An error a client can cause; carries its HTTP status and one or more items."""

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        param: str | None = None,
        errors: list[ErrorItem] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.errors = errors or [ErrorItem(code or self.code, message, param)]
        self.headers = headers or {}
        super().__init__(message or self.errors[0].message)


class InvalidInput(ApiError):
    status = 400
    code = "invalid"


class Unauthenticated(ApiError):
    status = 401
    code = "not_authenticated"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PreconditionFailed(ApiError):
    status = 412
    code = "precondition_failed"


class Gone(ApiError):
    status = 410
    code = "gone"


class PayloadTooLarge(ApiError):
    status = 413
    code = "too_large"


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"
