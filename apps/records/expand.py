"""`expand`: related records embedded in list and get responses (API.md "Records").

`expand=owner,tags,owner.team` names relation paths (at most MAX_PATHS, each at most
MAX_DEPTH relations deep; a path expands its prefixes too). Each record gets an `expand`
object: a single relation becomes the related record (or no key when it is empty or the
caller may not view it), a multiple one a list of the related records the caller may view,
in the relation's order. Related records are read with the same actor's access to the
target collection: its view rule filters them and only fields the caller may read there
are shown; a nested expansion sits in the related record's own `expand`.

Dotted `fields` (`owner.email`, `owner.team.name`) restrict the fields of an expanded
relation; the head must be expanded. When `fields` is given, a relation that is expanded
but not named in `fields` is still read (for its ids) but its key is left out of the
record: `fields` lists exactly the keys shown, plus `id` and `expand`.

Queries: one per expanded relation path for all the records of the page (plus, as for any
record, one per visible multiple relation of the related records), never one per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.collections.access import Access
from apps.collections.spec import FieldSpec
from apps.core.exceptions import InvalidInput
from apps.records.record_view import RecordView

MAX_DEPTH = 3  # relations in one expand path
MAX_PATHS = 10
MAX_EXPAND_LENGTH = 1000
CHUNK = 1000  # related ids per query: stays under every database's parameter limit


@dataclass
class ExpandNode:
    """One expanded relation: where it points, what of it is shown, what it expands."""

    field: FieldSpec
    many: bool
    access: Access  # the same actor's access to the target collection
    children: dict[str, "ExpandNode"] = field(default_factory=dict)
    view: RecordView | None = None
    drop: set[str] = field(
        default_factory=set
    )  # relation keys `fields` did not ask for


@dataclass
class ExpandPlan:
    names: list[str] = field(default_factory=list)  # top-level relation field names
    nodes: dict[str, ExpandNode] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)


def split_fields(items: list[str]) -> tuple[set[str] | None, dict[str, list[str]]]:
    """`["email", "team.name"]` -> ({"email", "id"}, {"team": ["name"]}); only dotted
    names -> (None, {...}): the record's own fields are then not restricted."""
    top: set[str] = set()
    nested: dict[str, list[str]] = {}
    for item in items:
        head, dot, rest = item.partition(".")
        if not head or (dot and not rest):
            raise InvalidInput("fields has an empty name.", param="fields")
        if dot:
            nested.setdefault(head, []).append(rest)
        else:
            top.add(head)
    return (top | {"id"} if top else None), nested


def _relation_field(access: Access, name: str, path: str) -> FieldSpec:
    spec = access.spec
    if name in spec.system_field_names():
        raise InvalidInput(
            f"{spec.name}.{name} is not a relation (in expand {path!r}).",
            code="not_a_relation",
            param="expand",
        )
    found = spec.field_by_name(name)
    if found is None or access.field_readable(found) is False:
        raise InvalidInput(
            f"{spec.name} has no field {name!r} (in expand {path!r}).",
            code="unknown_field",
            param="expand",
        )
    if found.type != "relation":
        raise InvalidInput(
            f"{spec.name}.{name} is not a relation (in expand {path!r}).",
            code="not_a_relation",
            param="expand",
        )
    return found


def _not_expanded(access: Access, head: str, label: str) -> InvalidInput:
    spec = access.spec
    known = head in spec.system_field_names()
    found = spec.field_by_name(head)
    known |= found is not None and access.field_readable(found) is not False
    if not known:
        return InvalidInput(
            f"{spec.name} has no field {head!r} (in fields).",
            code="unknown_field",
            param="fields",
        )
    path = f"{label}.{head}" if label else head
    if found is None or found.type != "relation":
        return InvalidInput(
            f"fields names {path}.*, but {path} is not a relation.",
            code="not_a_relation",
            param="fields",
        )
    return InvalidInput(
        f"fields names {path}.*, but {path} is not in expand.",
        code="not_expanded",
        param="fields",
    )


def _parse_paths(text: str) -> list[list[str]]:
    if len(text) > MAX_EXPAND_LENGTH:
        raise InvalidInput("expand is too long.", param="expand")
    paths = []
    for item in text.split(","):
        segments = [s.strip() for s in item.strip().split(".")]
        if not all(segments):
            raise InvalidInput("expand has an empty relation name.", param="expand")
        if len(segments) > MAX_DEPTH:
            raise InvalidInput(
                f"expand {item.strip()!r} is too deep: at most {MAX_DEPTH} relations.",
                code="too_deep",
                param="expand",
            )
        if segments not in paths:
            paths.append(segments)
        if len(paths) > MAX_PATHS:
            raise InvalidInput(
                f"expand takes at most {MAX_PATHS} relation paths.", param="expand"
            )
    return paths


def _apply_fields(
    access: Access,
    nodes: dict[str, ExpandNode],
    nested: dict[str, list[str]],
    label: str,
) -> None:
    """Build each node's RecordView from the dotted `fields` under it (None: all)."""
    for head in nested:
        if head not in nodes:
            raise _not_expanded(access, head, label)
    for name, node in nodes.items():
        top, below = split_fields(nested.get(name, []))
        children = set(node.children)
        if top is not None:
            node.drop = children - top
            top |= children  # the relation columns hold the ids to expand
        node.view = RecordView(node.access, top)
        path = f"{label}.{name}" if label else name
        _apply_fields(node.access, node.children, below, path)


def parse_expand(
    text: str | None,
    access: Access,
    nested_fields: dict[str, list[str]],
    *,
    fields: set[str] | None = None,
) -> ExpandPlan:
    """The expand tree of `text` for `access`'s actor; 400 (param `expand` or `fields`)
    for unknown, unreadable, non-relation or too deep paths and misplaced dotted fields.

    `fields`: the requested top-level names (None: all); expanded relations outside them
    are left out of the output."""
    plan = ExpandPlan()
    if text is None or text.strip() == "":
        _apply_fields(access, {}, nested_fields, "")
        return plan
    targets: dict[tuple[str, int], Access] = {}  # one spec lookup per target and level
    for path in _parse_paths(text):
        current, nodes = access, plan.nodes
        for level, name in enumerate(path, start=1):
            node = nodes.get(name)
            if node is None:
                relation = _relation_field(current, name, ".".join(path))
                key = (relation.options["collection"], level)
                if key not in targets:
                    targets[key] = current.related(relation.options["collection"])
                node = ExpandNode(
                    relation, bool(relation.options.get("multiple")), targets[key]
                )
                nodes[name] = node
            current, nodes = node.access, node.children
    _apply_fields(access, plan.nodes, nested_fields, "")
    plan.names = list(plan.nodes)
    if fields is not None:
        plan.drop = set(plan.names) - fields
    return plan


def _ids_of(items: list[dict], name: str, many: bool) -> list[str]:
    """Related ids named by `items` (readable ones only: a field the caller may not read
    on a record is absent from its item), unique, in order."""
    ids: dict[str, None] = {}
    for item in items:
        value = item.get(name)
        if many:
            ids.update(dict.fromkeys(value or ()))
        elif value:
            ids[value] = None
    return list(ids)


def _load(node: ExpandNode, ids: list[str]) -> dict[str, dict]:
    """The related records the caller may view, rendered and expanded, by id."""
    if not ids:
        return {}
    rule = node.access.rule("view")
    if rule is False:
        return {}
    assert node.view is not None
    model = node.access.model()
    items: list[dict] = []
    for start in range(0, len(ids), CHUNK):
        queryset = model.objects.filter(pk__in=ids[start : start + CHUNK])
        if rule is not True:
            queryset = queryset.filter(rule)
        items += node.view.render(list(node.view.values(queryset)))
    if node.children:
        _expand(node.children, node.drop, items)
    return {item["id"]: item for item in items}


def _expand(nodes: dict[str, ExpandNode], drop: set[str], items: list[dict]) -> None:
    for item in items:
        item["expand"] = {}
    for name, node in nodes.items():
        related = _load(node, _ids_of(items, name, node.many))
        for item in items:
            if name not in item:  # not readable on this record
                continue
            value = item[name]
            if node.many:
                item["expand"][name] = [related[i] for i in value if i in related]
            elif value in related:
                item["expand"][name] = related[value]
    for item in items:
        for name in drop:
            item.pop(name, None)


def expand_records(plan: ExpandPlan, rows: list[dict], items: list[dict]) -> None:
    """Add `expand` to each rendered item (in place). The related ids come from the
    items themselves: RecordView has already applied field read rules to them."""
    if plan.nodes:
        _expand(plan.nodes, plan.drop, items)
