"""Records of one collection: list (cursor or page), iterate, get, create, update, delete."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from baas_client._util import segment

if TYPE_CHECKING:
    from baas_client.client import Client

Record = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a list: `items`, the cursor of the next page (None at the end), and
    `total` when it was asked for with `count=True`."""

    items: list[Record] = field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None


class RecordCollection:
    """`client.collection("posts")`: records of one collection.

    Records are plain dicts with the system fields `id`, `created`, `updated` beside the
    collection's own fields.
    """

    def __init__(self, client: Client, name: str) -> None:
        self._client = client
        self.name = name
        self._path = f"/collections/{segment(name)}/records"

    def _record_path(self, record_id: str) -> str:
        return f"{self._path}/{segment(record_id)}"

    def list(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        page: int | None = None,
        count: bool = False,
    ) -> Page:
        """One page, newest first.

        `limit` is the page size (server default 50, max 500). Pass the previous page's
        `next_cursor` as `cursor` for keyset paging, or a 1-based `page` number for offset
        paging (not both). `count=True` adds `total` (it costs a COUNT on the server).
        """
        params: dict[str, str] = {}
        if limit is not None:
            params["limit"] = str(limit)
        if cursor is not None:
            params["cursor"] = cursor
        if page is not None:
            params["page"] = str(page)
        if count:
            params["count"] = "true"
        body = self._client.request_object("GET", self._path, params=params)
        return Page(
            items=list(body.get("items") or []),
            next_cursor=body.get("next_cursor"),
            total=body.get("total"),
        )

    def iterate(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Iterator[Record]:
        """Every record, newest first, fetching page after page by cursor as it goes."""
        while True:
            current = self.list(limit=limit, cursor=cursor)
            yield from current.items
            if not current.next_cursor:
                return
            cursor = current.next_cursor

    def get(self, record_id: str) -> Record:
        """One record by id (`BaasError` 404 if it does not exist or is not visible)."""
        return self._client.request_object("GET", self._record_path(record_id))

    def create(self, data: dict[str, Any]) -> Record:
        """Create a record from field values and return it as stored."""
        return self._client.request_object("POST", self._path, json=data)

    def update(self, record_id: str, data: dict[str, Any]) -> Record:
        """Change the given fields of a record (a partial update) and return it."""
        return self._client.request_object(
            "PATCH", self._record_path(record_id), json=data
        )

    def delete(self, record_id: str) -> None:
        """Delete a record."""
        self._client.request("DELETE", self._record_path(record_id))

    def __repr__(self) -> str:
        return f"RecordCollection({self.name!r})"
