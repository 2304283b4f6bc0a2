"""Console pages: a collection's rules (collection and field rules, checked as typed) and
the "test as" panel (which records a user gets, and why, through the real services)."""

from __future__ import annotations

import datetime as dt
import json
import re

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path

from admin_ui.access import console_page
from apps.collections.access import Access
from apps.collections.models import RULE_ACTIONS
from apps.collections.representation import collection_to_json
from apps.collections.rule_fields import RecordResolver
from apps.collections.services import collection_update, get_spec
from apps.collections.spec import CollectionSpec
from apps.core.exceptions import ApiError, InvalidInput, NotFound
from apps.records.records import record_get, stored_row
from apps.records.records_list import record_list
from apps.rules.compiler import check
from apps.rules.explain import Explanation, explain_text
from apps.rules.parser import RuleSyntaxError, parse

FIELD_RULE_KINDS = ("read", "write")
SAMPLE_SIZE = 20
SHOWN_FIELDS = 3
MAX_SHOWN = 80
SLOT_RE = re.compile(
    r"^(rule-(list|view|create|update|delete)|field-[A-Za-z0-9_]+-(read|write))$"
)
ACTION_HINTS = {
    "list": "Which records appear in lists and in realtime.",
    "view": "Whether one record can be fetched by its id.",
    "create": "Checked against the record as it would be stored.",
    "update": "Must hold for the stored record and for the record after the change.",
    "delete": "Whether a record can be deleted.",
}


def _spec(name: str) -> CollectionSpec:
    try:
        return get_spec(name)
    except NotFound:
        raise Http404("No such collection.") from None


# --- the editor ---------------------------------------------------------------------
def _slots(
    spec: CollectionSpec, values: dict | None = None, errors: dict | None = None
):
    """What the editor shows: one entry per collection rule, and per field."""
    values, errors = values or {}, errors or {}
    actions = []
    for action in RULE_ACTIONS:
        slot = f"rule-{action}"
        text = values.get(slot, spec.rules.get(action))
        actions.append(
            {
                "action": action,
                "slot": slot,
                "locked": text is None,
                "text": text or "",
                "hint": ACTION_HINTS[action],
                "error": errors.get(slot),
            }
        )
    fields = []
    for field in spec.fields:
        kinds = []
        for kind in FIELD_RULE_KINDS:
            slot = f"field-{field.id}-{kind}"
            text = values.get(slot, (field.rules or {}).get(kind))
            kinds.append(
                {
                    "kind": kind,
                    "slot": slot,
                    "text": text or "",
                    "error": errors.get(slot),
                }
            )
        fields.append(
            {
                "name": field.name,
                "type": field.type,
                "hidden": field.hidden,
                "kinds": kinds,
                "has_rules": any(k["text"] for k in kinds),
            }
        )
    return actions, fields


def _check_text(spec: CollectionSpec, text: str) -> dict:
    """The check a save runs (apps.collections.access.validate_rules), for one text."""
    if not text.strip():
        return {"empty": True}
    try:
        check(parse(text), RecordResolver(Access(None, spec), client=False))
    except RuleSyntaxError as exc:
        return {"error": _located(text, exc.message, exc.position)}
    except ApiError as exc:
        return {"error": {"message": str(exc)}}
    return {"ok": True}


def _located(text: str, message: str, position: int | None) -> dict:
    """An error with the line it is on and a caret under its column."""
    error: dict = {"message": message}
    if position is None:
        return error
    position = max(0, min(position, len(text)))
    before = text[:position]
    line = before.count("\n")
    start = before.rfind("\n") + 1
    end = text.find("\n", position)
    column = position - start
    error.update(
        line=line + 1,
        column=column + 1,
        line_text=text[start : end if end != -1 else len(text)],
        pad=" " * column,
    )
    return error


def _page(request, spec, *, values=None, errors=None, status=200):
    actions, fields = _slots(spec, values, errors)
    context = {
        "spec": spec,
        "tab": "rules",
        "actions": actions,
        "fields": fields,
        "rule_actions": RULE_ACTIONS,
        "form_error": (errors or {}).get("form"),
    }
    return render(request, "admin_ui/rules/page.html", context, status=status)


@console_page
def rules_page(request, name: str):
    spec = _spec(name)
    if request.method != "POST":
        return _page(request, spec)
    values = _posted_values(request, spec)
    try:
        collection_update(
            actor=request.user,
            name=spec.name,
            data=_update_data(spec, values),
            request=request,
        )
    except ApiError as exc:
        return _page(
            request,
            spec,
            values=values,
            errors=_errors_by_slot(spec, exc, values),
            status=exc.status,
        )
    messages.success(request, "Rules saved.")
    return redirect("console:rules", name=spec.name)


def _posted_values(request, spec: CollectionSpec) -> dict:
    values: dict = {}
    for action in RULE_ACTIONS:
        slot = f"rule-{action}"
        text = request.POST.get(slot, "")
        locked = request.POST.get(f"lock-{action}") is not None
        values[slot] = None if locked else ("" if not text.strip() else text)
    for field in spec.fields:
        for kind in FIELD_RULE_KINDS:
            slot = f"field-{field.id}-{kind}"
            text = request.POST.get(slot, "")
            values[slot] = text if text.strip() else None
    return values


def _update_data(spec: CollectionSpec, values: dict) -> dict:
    data: dict = {"rules": {a: values[f"rule-{a}"] for a in RULE_ACTIONS}}
    changed = False
    fields = collection_to_json(spec)["fields"]
    for item in fields:
        rules = {k: values[f"field-{item['id']}-{k}"] for k in FIELD_RULE_KINDS}
        if {k: item["rules"].get(k) for k in FIELD_RULE_KINDS} != rules:
            item["rules"], changed = rules, True
    if changed:  # a field left out of `fields` is removed: send them all
        data["fields"] = fields
    return data


def _errors_by_slot(spec: CollectionSpec, exc: ApiError, values: dict) -> dict:
    errors: dict = {}
    for item in exc.errors:
        slot = _slot_for(spec, item.param or "")
        if slot is None:
            errors.setdefault("form", []).append(item.message)
            continue
        text = values.get(slot) or ""
        found = _check_text(spec, text).get("error") if text else None
        errors[slot] = found or {"message": item.message}
    return errors


def _slot_for(spec: CollectionSpec, param: str) -> str | None:
    match = re.fullmatch(r"rules\.(\w+)", param)
    if match and match.group(1) in RULE_ACTIONS:
        return f"rule-{match.group(1)}"
    match = re.fullmatch(r"fields\.(\d+)\.rules\.(read|write)", param)
    if match and int(match.group(1)) < len(spec.fields):
        return f"field-{spec.fields[int(match.group(1))].id}-{match.group(2)}"
    return None


@console_page
def rule_check(request, name: str):
    """htmx, as a rule is typed: the same check a save runs, shown in place."""
    spec = _spec(name)
    slot = request.POST.get("slot", "")
    if request.method != "POST" or not SLOT_RE.match(slot):
        return render(request, "admin_ui/rules/_check.html", {"bad": True}, status=400)
    result = _check_text(spec, request.POST.get(slot, ""))
    return render(request, "admin_ui/rules/_check.html", {"slot": slot, **result})


# --- test as --------------------------------------------------------------------------
@console_page
def user_search(request, name: str):
    """htmx: users whose email contains the query, to test as."""
    _spec(name)
    query = request.GET.get("q", "").strip()[:254]
    users = get_user_model().objects.filter(is_guest=False)
    if query:
        users = users.filter(email__icontains=query)
    found = list(users.order_by("email")[:8])
    return render(
        request, "admin_ui/rules/_users.html", {"users": found, "query": query}
    )


def _actor(value: str):
    if value in ("", "anon"):
        return AnonymousUser()
    user = (
        get_user_model().objects.filter(pk=value).first() if len(value) < 64 else None
    )
    if user is None:
        raise InvalidInput("No such user.", param="user")
    return user


def _action(value: str) -> str:
    if value not in RULE_ACTIONS:
        raise InvalidInput("Choose an action.", param="action")
    return value


def _shown(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value
    elif isinstance(value, dt.datetime):
        text = value.isoformat()
    else:
        text = json.dumps(value, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _sample(request, spec: CollectionSpec) -> list[dict]:
    """The collection's first page, newest first, as a superuser sees it."""
    return record_list(
        actor=request.user, collection=spec.name, params={"limit": str(SAMPLE_SIZE)}
    )["items"]


def _access(actor, spec: CollectionSpec, action: str, record: dict | None = None):
    """As the record services build it for `action`: create and update see a body."""
    if action == "create":
        body = {
            k: v for k, v in (record or {}).items() if k not in ("created", "updated")
        }
        return Access(actor, spec, body=body, method="POST")
    if action == "update":
        return Access(actor, spec, body={}, method="PATCH")
    if action == "delete":
        return Access(actor, spec, method="DELETE")
    return Access(actor, spec)


def _allowed_ids(actor, spec: CollectionSpec, action: str, sample: list[dict]):
    """(ids among `sample` the actor gets, refusal message or None)."""
    ids = [item["id"] for item in sample]
    if not ids:
        return set(), None
    try:
        if action == "list":
            id_filter = " || ".join(f'id = "{pk}"' for pk in ids)
            found = record_list(
                actor=actor,
                collection=spec.name,
                params={"limit": str(len(ids)), "filter": id_filter},
            )["items"]
            return {item["id"] for item in found}, None
        if action == "view":
            allowed = set()
            for pk in ids:
                try:
                    record_get(actor=actor, collection=spec.name, record_id=pk)
                except NotFound:
                    continue
                allowed.add(pk)
            return allowed, None
        _access(actor, spec, action).require(action)
    except ApiError as exc:
        if isinstance(exc, NotFound):
            raise
        return set(), str(exc)
    allowed = set()
    for item in sample:  # create: each record as if it were sent as a new one
        access = _access(actor, spec, action, item)
        condition = access.rule(action)
        if condition is True or (
            condition is not False
            and access.model().objects.filter(pk=item["id"]).filter(condition).exists()
        ):
            allowed.add(item["id"])
    return allowed, None


def _columns(spec: CollectionSpec) -> list[str]:
    names = [f.name for f in spec.fields if f.type not in ("json", "file")]
    return names[:SHOWN_FIELDS]


def _test_params(request):
    return _actor(request.GET.get("user", "")), _action(request.GET.get("action", ""))


@console_page
def test_as(request, name: str):
    """htmx: which records of the first page the chosen user gets for the action."""
    spec = _spec(name)
    try:
        actor, action = _test_params(request)
        sample = _sample(request, spec)
        allowed, refused = _allowed_ids(actor, spec, action, sample)
    except ApiError as exc:
        return render(
            request,
            "admin_ui/rules/_result.html",
            {"error": str(exc)},
            status=exc.status,
        )
    columns = _columns(spec)
    rows = [
        {
            "id": item["id"],
            "values": [_shown(item.get(c)) for c in columns],
            "allowed": item["id"] in allowed,
        }
        for item in sample
    ]
    context = {
        "spec": spec,
        "action": action,
        "actor": actor,
        "user_value": request.GET.get("user", "") or "anon",
        "privileged": Access(actor, spec).privileged,
        "rule": spec.rules.get(action),
        "columns": columns,
        "rows": rows,
        "allowed_count": len(allowed),
        "refused": refused,
    }
    return render(request, "admin_ui/rules/_result.html", context)


@console_page
def why(request, name: str):
    """htmx: the rule's tree for one record and the chosen user, part by part."""
    spec = _spec(name)
    try:
        actor, action = _test_params(request)
        record_id = request.GET.get("record", "")
        access = _access(actor, spec, action)
        row = stored_row(access.model(), spec, record_id)
        if action == "create":
            record = record_get(
                actor=request.user, collection=spec.name, record_id=record_id
            )
            access = _access(actor, spec, action, record)
        text = spec.rules.get(action)
        tree = None
        if not access.privileged:
            tree = explain_text(
                text, RecordResolver(access, client=False), access.ctx, row
            )
    except ApiError as exc:
        return render(
            request, "admin_ui/rules/_why.html", {"error": str(exc)}, status=exc.status
        )
    except RuleSyntaxError as exc:
        return render(
            request, "admin_ui/rules/_why.html", {"error": str(exc)}, status=400
        )
    node = _node(tree) if tree is not None else None
    context = {
        "action": action,
        "actor": actor,
        "record_id": record_id,
        "rule": text,
        "privileged": access.privileged,
        "node": node,
        "related": node is not None and _has_related(node),
    }
    return render(request, "admin_ui/rules/_why.html", context)


def _node(tree: Explanation) -> dict:
    node = {
        "kind": tree.kind,
        "result": tree.result,
        "op": tree.op,
        "children": [_node(child) for child in tree.children],
    }
    for side in ("left", "right"):
        value = getattr(tree, side)
        if value is not None:
            node[side] = {
                "text": value.text,
                "kind": value.kind,
                "shown": _side_shown(value),
                "missing": value.missing,
                "related": value.related,
            }
    return node


def _side_shown(side) -> str:
    if side.missing:
        return "no value"
    if side.related:  # the related id(s): the rest of the path is tested on them
        ids = side.value if isinstance(side.value, list) else [side.value]
        return "related: " + (", ".join(str(i) for i in ids if i) or "none")
    return _shown(side.value)


def _has_related(node: dict) -> bool:
    if any(node.get(side, {}).get("related") for side in ("left", "right")):
        return True
    return any(_has_related(child) for child in node["children"])


urlpatterns = [
    path("collections/<str:name>/rules/", rules_page, name="rules"),
    path("collections/<str:name>/rules/check/", rule_check, name="rules-check"),
    path("collections/<str:name>/rules/users/", user_search, name="rules-users"),
    path("collections/<str:name>/rules/test/", test_as, name="rules-test"),
    path("collections/<str:name>/rules/why/", why, name="rules-why"),
]
