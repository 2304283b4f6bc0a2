"""Collection definitions as the schema API shows them (field and index references by name)."""

from __future__ import annotations

from apps.collections.models import Collection
from apps.collections.spec import CollectionSpec, FieldSpec


def collection_names_by_id() -> dict[str, str]:
    return dict(Collection.objects.values_list("id", "name"))


def field_to_json(field: FieldSpec, names_by_id: dict[str, str]) -> dict:
    options = dict(field.options)
    if field.type == "relation" and options.get("collection"):
        options["collection"] = names_by_id.get(
            options["collection"], options["collection"]
        )
    return {
        "id": field.id,
        "name": field.name,
        "type": field.type,
        "required": field.required,
        "unique": field.unique,
        "hidden": field.hidden,
        "rules": dict(field.rules),
        "options": options,
    }


def collection_to_json(
    spec: CollectionSpec, names_by_id: dict[str, str] | None = None
) -> dict:
    if names_by_id is None:
        names_by_id = collection_names_by_id()
    names_by_field = {f.id: f.name for f in spec.fields}
    return {
        "id": spec.id,
        "name": spec.name,
        "type": spec.type,
        "system": spec.system,
        "schema_version": spec.version,
        "fields": [field_to_json(f, names_by_id) for f in spec.fields],
        "rules": dict(spec.rules),
        "indexes": [
            {
                "fields": [names_by_field.get(ref, ref) for ref in ix.fields],
                "unique": ix.unique,
            }
            for ix in spec.indexes
        ],
    }
