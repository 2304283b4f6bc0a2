"""Schema services: each is one transaction with the collection row locked (DESIGN.md 1, 4)."""

from __future__ import annotations

from django.db import (
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    transaction,
)

from apps.accounts.permissions import has_scope
from apps.collections import schema_input
from apps.collections.bootstrap import USERS_ID as USERS_COLLECTION_ID  # noqa: E402,F401
from apps.collections.dynamic import cache, ddl
from apps.collections.field_types.relation import valid_id
from apps.collections.models import Collection, Field
from apps.collections.names import MAX_NAME, NAME_RE, name_key
from apps.collections.representation import collection_to_json
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from apps.hooks import audit


def require_schema_access(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    if not has_scope(actor, "schema"):
        raise Forbidden(
            "Only superusers and API keys with the `schema` scope may do this."
        )


def resolve_collection_ref(ref: str) -> str | None:
    """A relation target given by name or id -> collection id."""
    if not (_possible_name(ref) or valid_id(ref)):
        return None  # e.g. a NUL byte, which PostgreSQL refuses in a query parameter
    row = (
        Collection.objects.filter(name_key=name_key(ref))
        .values_list("id", flat=True)
        .first()
        or Collection.objects.filter(pk=ref).values_list("id", flat=True).first()
    )
    return row


def _possible_name(name) -> bool:
    """Names that no collection can have (NUL, too long, odd characters) never reach SQL:
    PostgreSQL refuses NUL in a text parameter with an error."""
    return isinstance(name, str) and len(name) <= MAX_NAME and bool(NAME_RE.match(name))


def get_collection(name: str) -> Collection:
    collection = None
    if _possible_name(name):
        collection = Collection.objects.filter(name_key=name_key(name)).first()
    if collection is None:
        raise NotFound(f"No collection named {name!r}.", code="collection_not_found")
    return collection


def get_spec(name: str, *, deferred: bool = False) -> CollectionSpec:
    """The current spec of a collection; `deferred`: dynamic/cache.py (record reads)."""
    spec = (
        cache.current_spec("name_key", name_key(name), deferred=deferred)
        if _possible_name(name)
        else None
    )
    if spec is None:
        raise NotFound(f"No collection named {name!r}.", code="collection_not_found")
    return spec


def get_spec_by_id(collection_id: str) -> CollectionSpec:
    spec = cache.current_spec("id", collection_id) if valid_id(collection_id) else None
    if spec is None:
        raise NotFound("No such collection.", code="collection_not_found")
    return spec


def list_specs() -> list[CollectionSpec]:
    return [cache.spec_for(c) for c in Collection.objects.all()]


def schema_stamps() -> dict[str, tuple]:
    """Every collection's id and schema version (one small query)."""
    return {
        pk: (version, str(updated))
        for pk, version, updated in Collection.objects.values_list(
            "id", "schema_version", "updated"
        )
    }


def warm_up(ids: set[str] | None = None) -> None:
    """Load every collection's spec (by name and by id) and model, and parse its rules,
    as a server process starts (and, `ids`, those created or changed since: baas/
    lifecycle.py): its first requests then find them cached."""
    from apps.rules.parser import parse

    parse("id != ''")  # builds the expression lexer, which lark compiles lazily
    collections = Collection.objects.all()
    if ids is not None:
        collections = collections.filter(pk__in=ids)
    for collection in collections:
        cache.current_spec("name_key", collection.name_key)
        spec = cache.current_spec("id", collection.id)
        if spec is None:
            continue
        cache.model_for(spec)
        field_rules = [r for f in spec.fields for r in (f.rules or {}).values()]
        for rule in [*spec.rules.values(), *field_rules]:
            if rule:
                try:
                    parse(rule)
                except Exception:  # stored before a stricter parser: checked on use
                    pass


def _lock(name: str) -> Collection:
    """Lock the collection row; a concurrent schema change on it is a 409, not a wait."""
    if not _possible_name(name):
        raise NotFound(f"No collection named {name!r}.", code="collection_not_found")
    queryset = Collection.objects.filter(name_key=name_key(name))
    try:
        if connection.features.has_select_for_update_nowait:
            collection = queryset.select_for_update(nowait=True).first()
        else:
            # SQLite: IMMEDIATE transactions already serialise writers.
            collection = queryset.first()
    except OperationalError:  # NOWAIT: another transaction holds the row lock
        raise Conflict(
            f"Collection {name!r} is being changed by another request; retry.",
            code="schema_conflict",
        ) from None
    if collection is None:
        raise NotFound(f"No collection named {name!r}.", code="collection_not_found")
    return collection


def _fresh_spec(collection: Collection) -> CollectionSpec:
    return CollectionSpec.from_rows(
        collection, list(Field.objects.filter(collection=collection))
    )


def _save_definition(
    spec: CollectionSpec, collection: Collection | None = None
) -> Collection:
    if collection is None:
        collection = Collection(
            id=spec.id, table=spec.table, type=spec.type, system=spec.system
        )
    collection.name = spec.name
    collection.name_key = name_key(spec.name)
    collection.rules = dict(spec.rules)
    collection.indexes = [
        {"fields": list(ix.fields), "unique": ix.unique} for ix in spec.indexes
    ]
    collection.schema_version = spec.version
    collection.save()
    keep = [f.id for f in spec.fields]
    Field.objects.filter(collection=collection).exclude(pk__in=keep).delete()
    existing = set(
        Field.objects.filter(collection=collection).values_list("pk", flat=True)
    )
    for position, f in enumerate(spec.fields):
        values = dict(
            name=f.name,
            name_key=name_key(f.name),
            type=f.type,
            required=f.required,
            unique=f.unique,
            hidden=f.hidden,
            rules=dict(f.rules),
            options=dict(f.options),
            position=position,
        )
        if f.id in existing:
            Field.objects.filter(pk=f.id).update(**values)
        else:
            Field.objects.create(id=f.id, collection=collection, **values)
    return collection


def _name_taken(spec: CollectionSpec) -> bool:
    return (
        Collection.objects.filter(name_key=name_key(spec.name))
        .exclude(pk=spec.id)
        .exists()
    )


def _refuse_taken_name(spec: CollectionSpec) -> None:
    if _name_taken(spec):
        raise Conflict(
            f"A collection named {spec.name!r} already exists.",
            code="name_taken",
            param="name",
        )


def _ddl_failed(exc: Exception) -> InvalidInput | Conflict:
    if isinstance(exc, IntegrityError):
        return Conflict(
            "The change conflicts with stored records (for example, duplicate values "
            "for a new unique field or index).",
            code="constraint_violation",
        )
    return InvalidInput(
        "The database refused the schema change.", code="schema_change_failed"
    )


def validate_collection_rules(name: str) -> None:
    _validate_rules(get_collection(name))


def _validate_rules(collection: Collection) -> None:
    from apps.collections.access import validate_rules

    validate_rules(_fresh_spec(collection))


def _audit(actor, request, before: dict | None, after: dict | None) -> None:
    """The audit entry of a schema change (apps.hooks.audit), in its transaction: before
    and after as the schema API shows the collection. A change that touches rules (the
    collection's or a field's) is `collection.rules`, so filtering on it finds them all;
    a change that changes nothing is not an entry."""
    if before is None:
        action = "collection.create"
    elif after is None:
        action = "collection.delete"
    elif _rules_of(before) != _rules_of(after):
        action = "collection.rules"
    elif _unversioned(before) == _unversioned(after):
        return
    else:
        action = "collection.update"
    current = after if after is not None else before
    audit.record(
        actor=actor,
        action=action,
        target=audit.Target("collection", current["id"], current["name"]),
        before=before,
        after=after,
        request=request,
    )


def _rules_of(definition: dict) -> tuple:
    fields = {f["id"]: f["rules"] for f in definition["fields"] if f["rules"]}
    return definition["rules"], fields


def _unversioned(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k != "schema_version"}


def collection_create(
    *, actor, data, validate: bool = True, request=None
) -> CollectionSpec:
    require_schema_access(actor)
    spec = schema_input.parse_create(data, resolve_collection_ref)
    try:
        with ddl.schema_transaction():
            _refuse_taken_name(spec)
            collection = _save_definition(spec)
            ddl.create_table(spec)
            if validate:
                _validate_rules(collection)
            _audit(actor, request, None, collection_to_json(_fresh_spec(collection)))
    except IntegrityError:
        raise Conflict(
            f"A collection named {spec.name!r} already exists.",
            code="name_taken",
            param="name",
        ) from None
    return cache.spec_for(Collection.objects.get(pk=collection.pk))


def collection_update(
    *, actor, name: str, data, validate: bool = True, request=None
) -> CollectionSpec:
    require_schema_access(actor)
    try:
        with ddl.schema_transaction():
            collection = _lock(name)
            current = _fresh_spec(collection)
            before = collection_to_json(current)
            new = schema_input.parse_update(current, data, resolve_collection_ref)
            _refuse_taken_name(new)
            ddl.apply_changes(current, new)
            _save_definition(new, collection)
            if validate:
                _validate_rules(collection)
            _audit(actor, request, before, collection_to_json(_fresh_spec(collection)))
    except (InvalidInput, Conflict, NotFound):
        raise
    except (IntegrityError, DatabaseError) as exc:
        raise _ddl_failed(exc) from None
    return cache.spec_for(Collection.objects.get(pk=collection.pk))


def relations_into(collection_id: str) -> list[tuple[str, str]]:
    """(collection name, field name) of every relation field that targets the collection."""
    found = []
    for field in Field.objects.filter(type="relation").select_related("collection"):
        if (
            field.options.get("collection") == collection_id
            and field.collection_id != collection_id
        ):
            found.append((field.collection.name, field.name))
    return found


def collection_delete(*, actor, name: str, request=None) -> None:
    require_schema_access(actor)
    with ddl.schema_transaction():
        collection = _lock(name)
        if collection.system:
            raise InvalidInput(
                f"{collection.name!r} is a system collection and cannot be dropped.",
                code="system_collection",
            )
        users = relations_into(collection.id)
        if users:
            listed = ", ".join(f"{c}.{f}" for c, f in users)
            raise Conflict(
                f"Collection {collection.name!r} is the target of relation fields ({listed}); "
                "remove them first.",
                code="collection_in_use",
            )
        spec = _fresh_spec(collection)
        before = collection_to_json(spec)
        ddl.drop_table(spec)
        collection.delete()
        _audit(actor, request, before, None)
    transaction.on_commit(lambda: cache.forget(spec.id))
