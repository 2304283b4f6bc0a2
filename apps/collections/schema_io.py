"""Schema export and import. A dry run is the real import, rolled back: same checks, no effect."""

from __future__ import annotations

from apps.collections import services
from apps.collections.dynamic import ddl
from apps.collections.field_types.relation import valid_id
from apps.collections.models import Collection
from apps.collections.names import check_name, name_key
from apps.collections.representation import collection_names_by_id, collection_to_json
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import ApiError, InvalidInput
from apps.hooks import audit

EXPORT_VERSION = 1
MAX_COLLECTIONS = 500


class _Rollback(Exception):
    pass


#: other parts of the schema document, registered by the apps that own them (realtime's
#: `channels`): name -> (export(), import(actor=, entries=, request=) -> changes)
SECTIONS: dict[str, tuple] = {}


def schema_export() -> dict:
    names = collection_names_by_id()
    document = {
        "version": EXPORT_VERSION,
        "collections": [collection_to_json(s, names) for s in services.list_specs()],
    }
    for name, (export, _) in SECTIONS.items():
        document[name] = export()
    return document


def _match_fields(entry: dict, current: CollectionSpec) -> dict:
    """Fields match by id when the id is known here, else by name (exports from elsewhere)."""
    ids = {f.id for f in current.fields}
    by_name = {name_key(f.name): f.id for f in current.fields}
    fields = []
    items = entry.get("fields", [])
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            fields.append(item)
            continue
        item = dict(item)
        if not isinstance(item.get("id"), str) or item["id"] not in ids:
            item.pop("id", None)
            name = item.get("name")
            if isinstance(name, str) and name_key(name) in by_name:
                item["id"] = by_name[name_key(name)]
        fields.append(item)
    data = {k: v for k, v in entry.items() if k in ("name", "rules", "indexes")}
    if "fields" in entry:
        data["fields"] = fields if isinstance(items, list) else items
    return data


def _diff(old: CollectionSpec | None, new: CollectionSpec) -> dict:
    if old is None:
        return {
            "collection": new.name,
            "action": "create",
            "fields": {"added": [f.name for f in new.fields]},
        }
    old_fields = {f.id: f for f in old.fields}
    new_ids = {f.id for f in new.fields}
    fields = {
        "added": [f.name for f in new.fields if f.id not in old_fields],
        "removed": [f.name for f in old.fields if f.id not in new_ids],
        "renamed": [
            {"from": old_fields[f.id].name, "to": f.name}
            for f in new.fields
            if f.id in old_fields and old_fields[f.id].name != f.name
        ],
        "changed": [
            f.name
            for f in new.fields
            if f.id in old_fields and old_fields[f.id].with_changes(name=f.name) != f
        ],
    }
    result = {
        "collection": new.name,
        "action": "update",
        "fields": {k: v for k, v in fields.items() if v},
    }
    if old.name != new.name:
        result["renamed_from"] = old.name
    if old.rules != new.rules:
        result["rules_changed"] = True
    added = [ix for ix in new.indexes if ix not in old.indexes]
    removed = [ix for ix in old.indexes if ix not in new.indexes]
    if added or removed:
        result["indexes"] = {"added": len(added), "removed": len(removed)}
    if not result["fields"] and len(result) == 3:
        result["action"] = "unchanged"
    return result


def _entries(document) -> list[dict]:
    if not isinstance(document, dict):
        raise InvalidInput(
            "The schema document must be a JSON object.", code="invalid_type"
        )
    entries = document.get("collections")
    if not isinstance(entries, list) or len(entries) > MAX_COLLECTIONS:
        raise InvalidInput(
            f"`collections` must be a list of at most {MAX_COLLECTIONS} definitions.",
            code="invalid",
            param="collections",
        )
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidInput(
                "Each collection needs a name.",
                code="invalid",
                param=f"collections.{index}.name",
            )
        check_name(entry["name"], kind="collection", param=f"collections.{index}.name")
    return entries


def _existing(entry: dict) -> Collection | None:
    if valid_id(entry.get("id")):
        found = Collection.objects.filter(pk=entry["id"]).first()
        if found is not None:
            return found
    return Collection.objects.filter(name_key=name_key(entry["name"])).first()


def _prefixed(
    exc: ApiError, index: int, positions: list[int] | None = None
) -> ApiError:
    """Point params into the document; `positions` maps a filtered field list back to it."""
    for item in exc.errors:
        param = item.param
        if positions is not None and param and param.startswith("fields."):
            head, dot, rest = param[len("fields.") :].partition(".")
            if head.isdigit() and int(head) < len(positions):
                param = f"fields.{positions[int(head)]}{dot}{rest}"
        item.param = f"collections.{index}" + (f".{param}" if param else "")
    return exc


def _without_relations(entry: dict) -> tuple[object, list[int] | None]:
    """The entry's fields minus relations (and ids), with the positions of those kept."""
    fields = entry.get("fields", [])
    if not isinstance(fields, list):
        return fields, None
    positions = [
        i
        for i, f in enumerate(fields)
        if not (isinstance(f, dict) and f.get("type") == "relation")
    ]
    plain = [
        {k: v for k, v in fields[i].items() if k != "id"}
        if isinstance(fields[i], dict)
        else fields[i]
        for i in positions
    ]
    return plain, positions


def schema_import(*, actor, document, dry_run: bool = False, request=None) -> dict:
    """Create or update every listed collection in one transaction; others are untouched.
    Each collection (and channel) changed has its own audit entry, and the import one
    `schema.import` entry with the changes it reports (none of them for a dry run)."""
    services.require_schema_access(actor)
    entries = _entries(document)
    changes: list[dict] = []
    try:
        with ddl.schema_transaction():
            # Pass 1: create new collections without relation fields, so relations between
            # new collections (even cycles) can be added in pass 2.
            plan: list[tuple[int, dict, CollectionSpec | None]] = []
            seen: set[str] = set()
            for index, entry in enumerate(entries):
                existing = _existing(entry)
                if existing is not None and existing.pk in seen:
                    raise InvalidInput(
                        f"Collection {entry['name']!r} is listed twice.",
                        code="duplicate_name",
                        param=f"collections.{index}.name",
                    )
                before = services.get_spec(existing.name) if existing else None
                if existing is None:
                    plain, positions = _without_relations(entry)
                    try:
                        created = services.collection_create(
                            actor=actor,
                            data={
                                "name": entry["name"],
                                "type": entry.get("type", "base"),
                                "fields": plain,
                            },
                            validate=False,
                            request=request,
                        )
                    except ApiError as exc:
                        raise _prefixed(exc, index, positions) from None
                seen.add(existing.pk if existing is not None else created.id)
                plan.append((index, entry, before))
            for index, entry, before in plan:
                current = (
                    services.get_spec(entry["name"])
                    if before is None
                    else services.get_spec(before.name)
                )
                try:
                    after = services.collection_update(
                        actor=actor,
                        name=current.name,
                        data=_match_fields(entry, current),
                        validate=False,
                        request=request,
                    )
                except ApiError as exc:
                    raise _prefixed(exc, index) from None
                changes.append(_diff(before, after))
            # Rules may name fields of collections imported later: check them last.
            for index, entry, _ in plan:
                try:
                    services.validate_collection_rules(entry["name"])
                except ApiError as exc:
                    raise _prefixed(exc, index) from None
            for name, (_, import_section) in SECTIONS.items():
                if name in document:
                    changes += import_section(
                        actor=actor, entries=document[name], request=request
                    )
            if dry_run:
                raise _Rollback
            audit.record(
                actor=actor,
                action="schema.import",
                target=audit.Target("schema"),
                after={"changes": changes},
                request=request,
            )
    except _Rollback:
        pass
    return {"dry_run": dry_run, "changes": changes}
