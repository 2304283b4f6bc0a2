"""Records for server-side code: the same service functions as the REST API.

Every call goes through the record services, so validation, rules, the change log,
realtime events, webhooks and hooks all apply exactly as for an API request::

    from baas import records

    post = records.create("posts", {"title": "Hello"})           # as server code
    mine = records.list("posts", filter="owner = @request.auth.id", as_user=event.auth)
    records.update("posts", post["id"], {"title": "Hi"}, as_user=request.user)

`as_user` chooses whose rights apply: `None` (the default) is server code, which passes
every rule and sees every field (like an API key with `records:read` and
`records:write`); a user (a `baas.hooks.Auth`, a user object such as `request.user`, or a
user id) is checked by the collection's rules as that user would be over the API. Errors
are the API's: `apps.core.exceptions.ApiError` subclasses with `status` and `errors`.
"""

from __future__ import annotations

from baas.hooks import Auth

__all__ = ["create", "delete", "get", "list", "update"]


def _actor(as_user):
    from apps.hooks.dispatch import SYSTEM, actor_for

    return SYSTEM if as_user is None else actor_for(as_user)


def get(
    collection: str,
    record_id: str,
    *,
    as_user: Auth | object | str | None = None,
    fields: str | None = None,
    expand: str | None = None,
) -> dict:
    """One record (404 `NotFound` when absent or not visible to `as_user`)."""
    from apps.records.records import record_get

    params = {k: v for k, v in (("fields", fields), ("expand", expand)) if v}
    return record_get(
        actor=_actor(as_user), collection=collection, record_id=record_id, params=params
    )


def list(  # noqa: A001  (the facade's verbs mirror the API's)
    collection: str,
    *,
    filter: str | None = None,  # noqa: A002
    sort: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    fields: str | None = None,
    expand: str | None = None,
    count: bool = False,
    as_user: Auth | object | str | None = None,
) -> dict:
    """A page of records: `{"items": [...], "next_cursor": ...}` (and `total` with
    `count=True`); the filter and sort use the API's expression language."""
    from apps.records.records_list import record_list

    params = {
        "filter": filter,
        "sort": sort,
        "limit": str(limit),
        "cursor": cursor,
        "fields": fields,
        "expand": expand,
        "count": "1" if count else None,
    }
    params = {k: v for k, v in params.items() if v is not None}
    return record_list(actor=_actor(as_user), collection=collection, params=params)


def create(
    collection: str, data: dict, *, as_user: Auth | object | str | None = None
) -> dict:
    from apps.records.records import record_create

    return record_create(actor=_actor(as_user), collection=collection, data=dict(data))


def update(
    collection: str,
    record_id: str,
    data: dict,
    *,
    as_user: Auth | object | str | None = None,
    if_match: str | None = None,
) -> dict:
    from apps.records.records import record_update

    return record_update(
        actor=_actor(as_user),
        collection=collection,
        record_id=record_id,
        data=dict(data),
        if_match=if_match,
    )


def delete(
    collection: str,
    record_id: str,
    *,
    as_user: Auth | object | str | None = None,
    if_match: str | None = None,
) -> None:
    from apps.records.records import record_delete

    record_delete(
        actor=_actor(as_user),
        collection=collection,
        record_id=record_id,
        if_match=if_match,
    )
