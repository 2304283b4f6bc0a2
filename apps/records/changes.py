"""Delta sync: `GET /collections/{name}/changes` (API.md "Delta sync").

The change log (apps.records.changelog) says which records changed and in what
order; what a caller receives is decided here, from the records' current state:
- a record that exists and that the caller may view now: `upsert` with the fields the
  caller may read, as it is now (several changes in one page collapse into one);
- otherwise, if the page holds its tombstone and the caller could view the record just
  before it was deleted (the view rule tested on the tombstone's snapshot): `delete`;
- otherwise nothing (a later change of the record, if any, will say more).
Deciding by current state also makes the result right when two transactions touching one
record appear in the log in another order than they committed.
"""

from __future__ import annotations

from apps.collections.access import Access
from apps.collections.models import Change
from apps.collections.services import get_spec
from apps.records import changelog
from apps.records.record_view import RecordView
from apps.records.records import retry_on_schema_race
from apps.records.records_list import _param_int

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _since(params) -> changelog.Position | None:
    token = params.get("since")
    if token is None or token == "":
        return None
    return changelog.decode_token(token)


def _visible_now(access: Access, ids: list[str]) -> dict[str, dict]:
    """The records among `ids` the caller may view now, rendered for the caller."""
    condition = access.rule("view")
    if condition is False or not ids:
        return {}
    view = RecordView(access)
    queryset = access.model().objects.filter(pk__in=ids)
    if condition is not True:
        queryset = queryset.filter(condition)
    return {record["id"]: record for record in view.render(list(view.values(queryset)))}


def _could_view(access: Access, tombstone: Change) -> bool:
    """Whether the caller could view the record just before it was deleted."""
    if access.privileged:
        return True
    row = changelog.snapshot_row(access.spec, tombstone.snapshot)
    return access.test(access.spec.rules.get("view"), row)


@retry_on_schema_race
def changes_since(*, actor, collection: str, params) -> dict:
    """Changes after `since` (or from the start) that the caller may see, in order."""
    spec = get_spec(collection)
    access = Access(actor, spec)
    access.require("view")
    limit = _param_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    page = changelog.read(spec.id, _since(params), limit)
    last: dict[str, int] = {}  # record id -> index of its last row in the page
    tombstones: dict[str, Change] = {}
    for index, row in enumerate(page.rows):
        last[row.record_id] = index
        if row.op == Change.DELETE:
            tombstones[row.record_id] = row
    current = _visible_now(access, list(last))
    changes = []
    for record_id in sorted(last, key=last.__getitem__):
        if record_id in current:
            changes.append({"op": "upsert", "record": current[record_id]})
        elif record_id in tombstones and _could_view(access, tombstones[record_id]):
            changes.append({"op": "delete", "id": record_id})
    return {
        "changes": changes,
        "next": changelog.encode_token(page.next),
        "has_more": page.has_more,
    }
