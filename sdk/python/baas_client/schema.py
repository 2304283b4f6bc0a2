"""Collection definitions and the whole-schema document (superusers, `schema` API keys)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from baas_client._util import segment

if TYPE_CHECKING:
    from baas_client.client import Client

CollectionDefinition = dict[str, Any]


class Collections:
    """`client.collections`: read and change collection definitions.

    Changes take an optional `idempotency_key`, as record writes do.

    A definition: `{"name", "type": "base" | "auth", "fields": [...], "rules": {...},
    "indexes": [...]}`; a field: `{"id", "name", "type", "required", "unique", "hidden",
    "rules", "options"}`.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self) -> builtins.list[CollectionDefinition]:
        """Every collection definition."""
        body = self._client.request_object("GET", "/collections")
        return list(body.get("items") or [])

    def get(self, name: str) -> CollectionDefinition:
        """One definition by name."""
        return self._client.request_object("GET", f"/collections/{segment(name)}")

    def create(
        self, definition: CollectionDefinition, *, idempotency_key: str | None = None
    ) -> CollectionDefinition:
        """Create a collection (and its table); returns the definition with ids assigned.

        A new collection's rules are all `None`: only superusers and keys reach its records
        until rules are set.
        """
        return self._client.request_object(
            "POST", "/collections", json=definition, idempotency_key=idempotency_key
        )

    def update(
        self,
        name: str,
        changes: CollectionDefinition,
        *,
        idempotency_key: str | None = None,
    ) -> CollectionDefinition:
        """Change a collection. A `fields` list replaces the fields: keep a field's `id` to
        keep (or rename) it, leave one out to remove it, omit `id` to add one."""
        return self._client.request_object(
            "PATCH",
            f"/collections/{segment(name)}",
            json=changes,
            idempotency_key=idempotency_key,
        )

    def delete(self, name: str, *, idempotency_key: str | None = None) -> None:
        """Drop a collection and all its records."""
        self._client.request(
            "DELETE", f"/collections/{segment(name)}", idempotency_key=idempotency_key
        )


class Schema:
    """`client.schema`: export every collection as one document, or import one."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def export(self) -> dict[str, Any]:
        """`{"version": 1, "collections": [definition, ...]}`."""
        return self._client.request_object("GET", "/schema")

    def import_(
        self,
        document: dict[str, Any],
        dry_run: bool = False,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create or update the listed collections in one transaction (others untouched).

        Returns `{"dry_run": bool, "changes": [...]}`; with `dry_run=True` nothing is
        applied and `changes` is the diff that would be.
        """
        params = {"dry_run": "1"} if dry_run else None
        return self._client.request_object(
            "POST",
            "/schema/import",
            params=params,
            json=document,
            idempotency_key=idempotency_key,
        )
