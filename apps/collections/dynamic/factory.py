"""Build a Django model class from a CollectionSpec (kept out of the global app registry)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import models

from apps.collections.field_types import ModelContext, get_type
from apps.collections.spec import CollectionSpec

APP_LABEL = "baas_dynamic"
MODULE = "apps.collections.dynamic.models"

_table_by_collection_id: dict[str, str] = {}


def table_for_collection(collection_id: str) -> str:
    """Tables are fixed for the life of a collection, so this never goes stale."""
    table = _table_by_collection_id.get(collection_id)
    if table is None:
        from apps.collections.models import Collection

        table = Collection.objects.values_list("table", flat=True).get(pk=collection_id)
        _table_by_collection_id[collection_id] = table
    return table


def _meta(apps: Apps, table: str, *, managed: bool = False, **extra) -> type:
    # Collection models are managed=True: Django's schema editor creates no indexes for
    # unmanaged models. They live in their own Apps registry, so migrations never see them.
    return type(
        "Meta",
        (),
        {
            "db_table": table,
            "managed": managed,
            "apps": apps,
            "app_label": APP_LABEL,
            **extra,
        },
    )


def _system_fields(spec: CollectionSpec) -> dict[str, models.Field]:
    if spec.is_auth:
        # The auth table is shared with accounts.User: the model must carry every column,
        # or SQLite's table rebuild on ALTER would drop the credential columns.
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        return {f.name: f.clone() for f in user_model._meta.local_concrete_fields}
    return {
        "id": models.CharField(primary_key=True, max_length=15),
        "created": models.DateTimeField(db_index=True),
        "updated": models.DateTimeField(),
    }


def _index_attnames(spec: CollectionSpec, field_refs: tuple[str, ...]) -> list[str]:
    names = []
    for ref in field_refs:
        field = spec.field_by_id(ref)
        names.append(field.attname if field is not None else ref)
    return names


def build_model(spec: CollectionSpec) -> type[models.Model]:
    """A fresh model class in its own registry; relation targets become pk-only stubs."""
    apps = Apps()
    stubs: dict[str, type[models.Model] | str] = {}

    def related_model(target_id: str):
        if target_id == spec.id:
            return "self"
        if target_id not in stubs:
            stubs[target_id] = type(
                f"Stub_{target_id}",
                (models.Model,),
                {
                    "id": models.CharField(primary_key=True, max_length=15),
                    "__module__": MODULE,
                    "Meta": _meta(apps, table_for_collection(target_id)),
                },
            )
        return stubs[target_id]

    ctx = ModelContext(related_model=related_model)
    attrs: dict = {"__module__": MODULE}
    attrs.update(_system_fields(spec))
    for field in spec.fields:
        attrs[field.attname] = get_type(field.type).model_field(field, ctx)
    indexes, constraints = [], []
    for index in spec.indexes:
        fields = _index_attnames(spec, index.fields)
        name = index.name_for(spec.id)
        if index.unique:
            constraints.append(models.UniqueConstraint(fields=fields, name=name))
        else:
            indexes.append(models.Index(fields=fields, name=name))
    attrs["Meta"] = _meta(
        apps, spec.table, managed=True, indexes=indexes, constraints=constraints
    )
    model = type(f"Collection_{spec.id}", (models.Model,), attrs)
    model.baas_spec = spec  # type: ignore[attr-defined]
    return model
