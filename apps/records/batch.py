"""Record operations in one transaction, all or nothing (API.md: `POST /batch`).

Each operation calls the same record service as its REST endpoint, with the batch's caller
as actor, so the same access checks and validation apply. The first operation that fails
rolls every earlier one back; its error is the batch's error, with each `param` prefixed by
`requests.<index>` so the client knows which operation it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.db import transaction
from django.http import QueryDict

from apps.core.errors import error_items_for
from apps.core.exceptions import ApiError, ErrorItem, InvalidInput
from apps.records import records, records_list

MAX_OPERATIONS = 100
ITEM_KEYS = frozenset({"method", "url", "body"})
LIST_METHODS = ("GET", "POST")
DETAIL_METHODS = ("GET", "PATCH", "DELETE")
WITH_BODY = frozenset({"POST", "PATCH"})
RECORD_URL = re.compile(
    r"^/?(?:api/v1/)?collections/(?P<name>[^/]+)/records(?:/(?P<record_id>[^/]+))?$"
)
URL_HINT = (
    "Only record endpoints can be batched: /api/v1/collections/{name}/records "
    "and /api/v1/collections/{name}/records/{id}."
)


@dataclass(frozen=True)
class Operation:
    method: str
    collection: str
    record_id: str | None
    params: QueryDict
    body: dict | None


def batch_requests(payload) -> object:
    """The `requests` member of a batch body; the body must be `{"requests": [...]}`."""
    if not isinstance(payload, dict):
        raise InvalidInput('The body must be an object: {"requests": [...]}.')
    unknown = sorted(str(key) for key in payload if key != "requests")
    if unknown:
        raise InvalidInput(
            f"Unknown member {unknown[0]!r}; a batch has `requests` only.",
            param=unknown[0],
        )
    if "requests" not in payload:
        raise InvalidInput(
            "A batch needs a `requests` list.", code="required", param="requests"
        )
    return payload["requests"]


def _parse_url(url: str, param: str) -> tuple[str, str | None, QueryDict]:
    parts = urlsplit(url)
    match = RECORD_URL.match(parts.path)
    if parts.scheme or parts.netloc or parts.fragment or match is None:
        raise InvalidInput(URL_HINT, param=param)
    record_id = match["record_id"]
    return (
        unquote(match["name"]),
        None if record_id is None else unquote(record_id),
        QueryDict(parts.query),
    )


def _parse_operation(index: int, item) -> Operation:
    """One item of `requests`, or InvalidInput listing everything wrong with it."""
    at = f"requests.{index}"
    if not isinstance(item, dict):
        raise InvalidInput(
            'Each request must be an object: {"method", "url", "body"}.', param=at
        )
    errors = [
        ErrorItem("invalid", "Unknown member; use method, url and body.", f"{at}.{k}")
        for k in sorted(str(key) for key in item if key not in ITEM_KEYS)
    ]
    method = item.get("method")
    url = item.get("url")
    for name, value in (("method", method), ("url", url)):
        if value is None:
            errors.append(
                ErrorItem("required", f"`{name}` is required.", f"{at}.{name}")
            )
        elif not isinstance(value, str):
            errors.append(
                ErrorItem("invalid", f"`{name}` must be a string.", f"{at}.{name}")
            )
    if errors:
        raise InvalidInput(errors=errors)
    method = method.upper()
    name, record_id, params = _parse_url(url, f"{at}.url")
    allowed = LIST_METHODS if record_id is None else DETAIL_METHODS
    if method not in allowed:
        target = "a record" if record_id else "the records of a collection"
        raise InvalidInput(
            f"{method} is not allowed on {target}; use {', '.join(allowed)}.",
            param=f"{at}.method",
        )
    body = item.get("body")
    if method in WITH_BODY:
        if body is None:
            raise InvalidInput(
                f"{method} needs a `body` object.", code="required", param=f"{at}.body"
            )
        if not isinstance(body, dict):
            raise InvalidInput("`body` must be an object.", param=f"{at}.body")
    elif body is not None:
        raise InvalidInput(f"{method} takes no `body`.", param=f"{at}.body")
    return Operation(method, name, record_id, params, body)


def parse_operations(requests) -> list[Operation]:
    if not isinstance(requests, list):
        raise InvalidInput("`requests` must be a list.", param="requests")
    if not requests:
        raise InvalidInput("`requests` must not be empty.", param="requests")
    if len(requests) > MAX_OPERATIONS:
        raise InvalidInput(
            f"A batch holds at most {MAX_OPERATIONS} requests.",
            code="too_many",
            param="requests",
        )
    operations, errors = [], []
    for index, item in enumerate(requests):
        try:
            operations.append(_parse_operation(index, item))
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors=errors)
    return operations


def _execute(actor, op: Operation) -> dict:
    name, pk = op.collection, op.record_id
    if pk is None and op.method == "GET":
        body = records_list.record_list(actor=actor, collection=name, params=op.params)
        return {"status": 200, "body": body}
    if pk is None:
        body = records.record_create(actor=actor, collection=name, data=op.body)
        return {"status": 201, "body": body}
    if op.method == "GET":
        body = records.record_get(
            actor=actor, collection=name, record_id=pk, params=op.params
        )
        return {"status": 200, "body": body}
    if op.method == "PATCH":
        body = records.record_update(
            actor=actor, collection=name, record_id=pk, data=op.body
        )
        return {"status": 200, "body": body}
    records.record_delete(actor=actor, collection=name, record_id=pk)
    return {"status": 204, "body": None}


def _prefixed(exc: Exception, index: int) -> ApiError | None:
    """The operation's error as the batch's error, params under `requests.<index>`."""
    mapped = error_items_for(exc)
    if mapped is None:
        return None
    status, items, headers = mapped
    at = f"requests.{index}"
    errors = [
        ErrorItem(item.code, item.message, f"{at}.{item.param}" if item.param else at)
        for item in items
    ]
    return ApiError(status=status, errors=errors, headers=dict(headers))


def batch_run(*, actor, requests) -> list[dict]:
    """Run every operation in order in one transaction -> [{status, body}] in order."""
    operations = parse_operations(requests)
    responses = []
    with transaction.atomic():
        for index, op in enumerate(operations):
            try:
                responses.append(_execute(actor, op))
            except Exception as exc:
                error = _prefixed(exc, index)
                if error is None:
                    raise
                raise error from None
    return responses
