"""Records of one collection: list (filter, sort, fields, expand; cursor or page), iterate,
get (with its ETag), create, update and delete (with If-Match and Idempotency-Key), delta
sync, realtime subscriptions, and the operations of a batch."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict
from urllib.parse import urlencode

from baas_client._multipart import Multipart, assert_no_files
from baas_client._util import expect_object, segment

if TYPE_CHECKING:
    from baas_client.client import Client
    from baas_client.errors import BaasError
    from baas_client.realtime import RealtimeEvent, Subscription

Record = dict[str, Any]
# A comma-separated string (`"-created,title"`) or a sequence of names (`["-created", "title"]`).
Names = str | Sequence[str]


class _BatchOperationRequired(TypedDict):
    method: Literal["GET", "POST", "PATCH", "DELETE"]
    url: str


class BatchOperation(_BatchOperationRequired, total=False):
    """One item of `client.batch([...])`: `{"method", "url", "body"?}`."""

    body: dict[str, Any] | None


class Change(TypedDict, total=False):
    """One entry of a changes page: `{"op": "upsert", "record": {...}}` (insert or replace
    by id) or `{"op": "delete", "id": "..."}` (forget that id; unknown ids are a no-op)."""

    op: Literal["upsert", "delete"]
    record: Record
    id: str


@dataclass(frozen=True)
class Page:
    """One page of a list: `items`, the cursor of the next page (None at the end), and
    `total` when it was asked for with `count=True`."""

    items: list[Record] = field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None


@dataclass(frozen=True)
class VersionedRecord:
    """A record with its `etag` (the `ETag` header: an opaque validator of the record as
    this caller sees it). `record` is None when a conditional read found it unchanged
    (`not_modified`, the server answered 304)."""

    record: Record | None
    etag: str | None
    not_modified: bool = False


@dataclass(frozen=True)
class ChangesPage:
    """One page of delta sync: `changes` in commit order, the token `next` to pass as
    `since` next time, and `has_more` (True: ask again at once)."""

    changes: list[Change] = field(default_factory=list)
    next: str | None = None
    has_more: bool = False


def _names(value: Names | None) -> str | None:
    """`"a,b"` or `["a", "b"]` → `"a,b"`; None stays None (the parameter is not sent)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return ",".join(value)


def _query(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value is not None}


def _if_match(if_match: str | None) -> dict[str, str] | None:
    return {"If-Match": if_match} if if_match is not None else None


def _body(data: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a record write: multipart when `data` holds files, else JSON."""
    multipart = Multipart.from_data(data)
    return {"multipart": multipart} if multipart else {"json": data}


class RecordCollection:
    """`client.collection("posts")`: records of one collection.

    Records are plain dicts with the system fields `id`, `created`, `updated` beside the
    collection's own fields, and `expand` (related records by relation name) when asked
    for.

    Mutating calls take an optional `idempotency_key` (sent as `Idempotency-Key`): the
    server runs the request once and replays its first answer to a retry with the same
    key and body. The client never retries on its own (only once after a token refresh
    on 401, which is safe); to retry after a network error, make one key per logical
    operation (`new_idempotency_key()`) and pass it on every attempt.
    """

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name
        self._path = f"/collections/{segment(name)}/records"

    def _record_path(self, record_id: str) -> str:
        return f"{self._path}/{segment(record_id)}"

    # --- reading ------------------------------------------------------------------------

    def list(
        self,
        *,
        filter: str | None = None,
        sort: Names | None = None,
        fields: Names | None = None,
        expand: Names | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        page: int | None = None,
        count: bool = False,
    ) -> Page:
        """One page of the records the caller may list.

        - `filter`: an expression, e.g. `'status = "open" && priority >= 4'` (a 400
          `invalid_filter` names the position).
        - `sort`: `"-priority,title"` or `["-priority", "title"]`, `-` for descending;
          default `-created` (newest first).
        - `fields`: sparse fieldsets, `"title,status"` (`id` always comes); dotted names
          pick fields of expanded relations (`"title,owner.email"`).
        - `expand`: relations to embed under each record's `expand`, `"owner,owner.team"`.
        - `limit`: page size (server default 50, max 500). Pass the previous page's
          `next_cursor` as `cursor` for keyset paging (same `sort`), or a 1-based `page`
          for offset paging (not both). `count=True` adds `total` (it costs a COUNT).
        """
        params = _query(
            filter=filter,
            sort=_names(sort),
            fields=_names(fields),
            expand=_names(expand),
            limit=None if limit is None else str(limit),
            cursor=cursor,
            page=None if page is None else str(page),
            count="true" if count else None,
        )
        body = self._client.request_object("GET", self._path, params=params)
        return Page(
            items=list(body.get("items") or []),
            next_cursor=body.get("next_cursor"),
            total=body.get("total"),
        )

    def iterate(
        self,
        *,
        filter: str | None = None,
        sort: Names | None = None,
        fields: Names | None = None,
        expand: Names | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[Record]:
        """Every matching record in `sort` order, fetching page after page by cursor as
        it goes. The parameters are those of `list()`; `limit` is the size of each page."""
        while True:
            current = self.list(
                filter=filter,
                sort=sort,
                fields=fields,
                expand=expand,
                limit=limit,
                cursor=cursor,
            )
            yield from current.items
            if not current.next_cursor:
                return
            cursor = current.next_cursor

    def get(
        self,
        record_id: str,
        *,
        fields: Names | None = None,
        expand: Names | None = None,
    ) -> Record:
        """One record by id (`BaasError` 404 if it does not exist or is not visible).

        `fields` and `expand` work as in `list()`.
        """
        versioned = self.get_with_etag(record_id, fields=fields, expand=expand)
        return expect_object(versioned.record)

    def get_with_etag(
        self,
        record_id: str,
        *,
        fields: Names | None = None,
        expand: Names | None = None,
        if_none_match: str | None = None,
    ) -> VersionedRecord:
        """One record and its ETag, for optimistic concurrency or cheap re-reads.

        Pass the `etag` to `update(..., if_match=etag)` or `delete(..., if_match=etag)`
        to write only if nobody changed the record since (else `BaasError` 412
        `precondition_failed`). Read it without `fields` and `expand` for that: the ETag
        is of the record as returned, so one of a sparse or expanded read never matches.

        With `if_none_match=etag`, an unchanged record comes back as
        `VersionedRecord(record=None, etag=etag, not_modified=True)` (a 304, no body).
        """
        headers = {"If-None-Match": if_none_match} if if_none_match else None
        answer = self._client.send(
            "GET",
            self._record_path(record_id),
            params=_query(fields=_names(fields), expand=_names(expand)),
            headers=headers,
        )
        etag = answer.headers.get("ETag")
        if answer.status == 304:
            return VersionedRecord(
                record=None, etag=etag or if_none_match, not_modified=True
            )
        return VersionedRecord(record=expect_object(answer.body), etag=etag)

    # --- writing ------------------------------------------------------------------------

    def create(
        self, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> Record:
        """Create a record from field values and return it as stored (201).

        A client may choose the `id` (15 lowercase letters and digits), e.g. offline.
        A file field's value may be a `pathlib.Path`, an open binary file, a tuple
        `(filename, bytes or file or Path, content_type)`, or a list of those for a
        multiple field: then the record goes as multipart/form-data (the files as parts,
        streamed; the other values as `@jsonPayload`).
        """
        answer = self._client.send(
            "POST", self._path, idempotency_key=idempotency_key, **_body(data)
        )
        return expect_object(answer.body)

    def update(
        self,
        record_id: str,
        data: dict[str, Any],
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
    ) -> Record:
        """Change the given fields of a record (a partial update) and return it.

        With `if_match` (an ETag from `get_with_etag()` or `update_with_etag()`), the
        update happens only if the record is unchanged since; otherwise `BaasError` 412
        with code `precondition_failed`, and nothing is written. Files as in `create()`;
        for a multiple file field `"docs+": [file]` appends, `"docs-": ["name.pdf"]`
        removes stored files by name, `"docs": [...]` replaces them all.
        """
        versioned = self.update_with_etag(
            record_id, data, if_match=if_match, idempotency_key=idempotency_key
        )
        return expect_object(versioned.record)

    def update_with_etag(
        self,
        record_id: str,
        data: dict[str, Any],
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
    ) -> VersionedRecord:
        """`update()` that also returns the record's new ETag, for the next `if_match`."""
        answer = self._client.send(
            "PATCH",
            self._record_path(record_id),
            headers=_if_match(if_match),
            idempotency_key=idempotency_key,
            **_body(data),
        )
        return VersionedRecord(
            record=expect_object(answer.body), etag=answer.headers.get("ETag")
        )

    def delete(
        self,
        record_id: str,
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Delete a record. With `if_match`, only if it is unchanged since that ETag
        (else `BaasError` 412 `precondition_failed`)."""
        self._client.request(
            "DELETE",
            self._record_path(record_id),
            headers=_if_match(if_match),
            idempotency_key=idempotency_key,
        )

    # --- delta sync ---------------------------------------------------------------------

    def changes(
        self, since: str | None = None, *, limit: int | None = None
    ) -> ChangesPage:
        """One page of what changed after the token `since` (None: from the beginning,
        every record the caller may view as it is now).

        Store `next` and pass it as `since` the next time; when `has_more` is True, ask
        again at once. `limit` (1 to 500, default 100) counts change-log rows, so a page
        may hold fewer entries. Errors: 400 `invalid_token` for a token the server did
        not make; 410 `resync_required` when the token is older than the retention of
        deletes: drop the local copy and sync again with `since=None`.
        """
        params = _query(
            since=since or None, limit=None if limit is None else str(limit)
        )
        body = self._client.request_object(
            "GET", f"/collections/{segment(self.name)}/changes", params=params
        )
        return ChangesPage(
            changes=list(body.get("changes") or []),
            next=body.get("next"),
            has_more=bool(body.get("has_more")),
        )

    def sync(
        self,
        since: str | None,
        on_change: Callable[[Change], object],
        *,
        limit: int | None = None,
    ) -> str | None:
        """Walk every page of changes after `since` until `has_more` is False, calling
        `on_change(change)` for each entry in order, and return the final token (store it
        and pass it as `since` next time).

        Applying a change is idempotent (upsert by id, delete by id), so if this stops
        half way (an error, a crash) syncing again from the old token is safe. A 410
        `resync_required` `BaasError` means the token is too old: drop the local copy and
        call `sync(None, ...)` to start from scratch. To checkpoint the token after each
        page instead, loop over `changes()` yourself.
        """
        token = since
        while True:
            current = self.changes(token, limit=limit)
            for change in current.changes:
                on_change(change)
            if current.next is not None:
                token = current.next
            if not current.has_more:
                return token

    # --- realtime -----------------------------------------------------------------------

    def subscribe(
        self,
        callback: Callable[[RealtimeEvent], object],
        *,
        record_id: str | None = None,
        filter: str | None = None,
        since: str | None = None,
        on_error: Callable[[BaasError], object] | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Changes to this collection's records (or, with `record_id`, to one record) as
        they happen: `client.realtime.subscribe(name or name/record_id, ...)`.

        `since` takes delta sync's token too: `token = posts.sync(None, apply)`, then
        `posts.subscribe(on_event, since=token)` goes on from there without a gap.
        """
        topic = self.name if record_id is None else f"{self.name}/{record_id}"
        return self._client.realtime.subscribe(
            topic,
            callback,  # type: ignore[arg-type]
            filter=filter,
            since=since,
            on_error=on_error,  # type: ignore[arg-type]
            timeout=timeout,
        )

    # --- batch operations ---------------------------------------------------------------

    def op_create(self, data: Mapping[str, Any]) -> BatchOperation:
        """A create for `client.batch([...])` (answer: 201 and the record)."""
        assert_no_files(data, "op_create")
        return {"method": "POST", "url": self._batch_url(), "body": dict(data)}

    def op_update(self, record_id: str, data: Mapping[str, Any]) -> BatchOperation:
        """A partial update for `client.batch([...])` (answer: 200 and the record)."""
        assert_no_files(data, "op_update")
        return {
            "method": "PATCH",
            "url": self._batch_url(record_id),
            "body": dict(data),
        }

    def op_delete(self, record_id: str) -> BatchOperation:
        """A delete for `client.batch([...])` (answer: 204, body None)."""
        return {"method": "DELETE", "url": self._batch_url(record_id)}

    def op_get(
        self,
        record_id: str,
        *,
        fields: Names | None = None,
        expand: Names | None = None,
    ) -> BatchOperation:
        """A read of one record for `client.batch([...])`: sees earlier operations'
        writes (answer: 200 and the record)."""
        query = _query(fields=_names(fields), expand=_names(expand))
        return {"method": "GET", "url": self._batch_url(record_id, query)}

    def op_list(
        self,
        *,
        filter: str | None = None,
        sort: Names | None = None,
        fields: Names | None = None,
        expand: Names | None = None,
        limit: int | None = None,
        count: bool = False,
    ) -> BatchOperation:
        """A list for `client.batch([...])` (answer: 200 and `{"items", "next_cursor"}`)."""
        query = _query(
            filter=filter,
            sort=_names(sort),
            fields=_names(fields),
            expand=_names(expand),
            limit=None if limit is None else str(limit),
            count="true" if count else None,
        )
        return {"method": "GET", "url": self._batch_url(None, query)}

    def _batch_url(
        self, record_id: str | None = None, query: dict[str, str] | None = None
    ) -> str:
        url = "/api/v1" + (
            self._path if record_id is None else self._record_path(record_id)
        )
        return f"{url}?{urlencode(query)}" if query else url

    def __repr__(self) -> str:
        return f"RecordCollection({self.name!r})"
