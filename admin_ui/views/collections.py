"""Console pages: collections, their schema editor (with a preview of what a change does
to stored records), their API snippets, and schema import/export. Every change goes
through apps.collections' services, as the schema API's views do (DESIGN.md 4)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from admin_ui.access import console_page
from apps.collections import preview, schema_io, services
from apps.collections.field_types import get_type, type_names
from apps.collections.representation import collection_names_by_id, collection_to_json
from apps.core.exceptions import ApiError, InvalidInput

MAX_UPLOAD = 2 * 1024 * 1024
ESTIMATE_ABOVE = 100_000
LIST_OPTIONS = {"values": "one per line", "mime_types": "comma-separated", "thumbs": ""}


def _errors(exc: ApiError) -> list[dict]:
    return [item.as_dict() for item in exc.errors]


def _record_count(spec) -> tuple[int | None, bool]:
    """(records, estimated): an exact COUNT, or PostgreSQL's own estimate for a table
    too big to count on every visit of the list."""
    from apps.collections.dynamic import cache

    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [spec.table],
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return row[0], True
        return cache.model_for(spec).objects.count(), False
    except DatabaseError:  # a table being rebuilt by another process: not worth a 500
        return None, False


def _list_context(**extra) -> dict:
    specs = sorted(services.list_specs(), key=lambda s: (not s.system, s.name.lower()))
    rows = []
    for spec in specs:
        records, estimated = _record_count(spec)
        rows.append(
            {
                "spec": spec,
                "fields": len(spec.fields),
                "records": records,
                "estimated": estimated,
            }
        )
    return {"rows": rows, "form": {}, "errors": {}, **extra}


@console_page
@require_http_methods(["GET", "POST"])
def collection_list(request):
    if request.method == "GET":
        return render(request, "admin_ui/collections/list.html", _list_context())
    data = {"name": request.POST.get("name", "").strip(), "type": "base"}
    try:
        spec = services.collection_create(
            actor=request.user, data=data, request=request
        )
    except ApiError as exc:
        errors = {item.param or "__all__": item.message for item in exc.errors}
        context = _list_context(form=data, errors=errors, open_create=True)
        return render(
            request, "admin_ui/collections/list.html", context, status=exc.status
        )
    messages.success(request, f"Collection {spec.name} created. Add its fields.")
    return redirect(f"/console/collections/{spec.name}/schema/")


@console_page
@require_POST
def collection_rename(request, name: str):
    new_name = request.POST.get("name", "").strip()
    try:
        spec = services.collection_update(
            actor=request.user, name=name, data={"name": new_name}, request=request
        )
    except ApiError as exc:
        messages.error(request, f"Not renamed: {exc.errors[0].message}")
        return redirect("/console/collections/")
    messages.success(request, f"Renamed {name} to {spec.name}.")
    return redirect("/console/collections/")


@console_page
@require_POST
def collection_delete(request, name: str):
    if request.POST.get("confirm") != name:
        messages.error(request, "Not deleted: type the collection's name to confirm.")
        return redirect("/console/collections/")
    try:
        services.collection_delete(actor=request.user, name=name, request=request)
    except ApiError as exc:
        messages.error(request, f"Not deleted: {exc.errors[0].message}")
        return redirect("/console/collections/")
    messages.success(request, f"Collection {name} deleted.")
    return redirect("/console/collections/")


# --- schema editor ----------------------------------------------------------------


def _option_inputs(type_name: str, options: dict, names: list[str]) -> list[dict]:
    """The inputs of one type's options, with their current values as text."""
    field_type = get_type(type_name)
    inputs = []
    for option, (types, default) in field_type.option_types.items():
        value = options.get(option, default)
        if option == "collection":
            kind = "collection"
        elif bool in types:
            kind = "bool"
        elif list in types:
            kind = "lines" if option == "values" else "list"
        elif int in types or float in types:
            kind = "number"
        else:
            kind = "text"
        if kind == "lines":
            text = "\n".join(str(v) for v in value or [])
        elif kind == "list":
            text = ", ".join(
                json.dumps(v) if not isinstance(v, str) else v for v in value or []
            )
        elif kind in ("bool",):
            text = ""
        else:
            text = "" if value is None else str(value)
        inputs.append(
            {
                "name": option,
                "kind": kind,
                "text": text,
                "checked": bool(value) if kind == "bool" else False,
                "hint": LIST_OPTIONS.get(option, ""),
                "collections": names,
            }
        )
    return inputs


def _field_rows(fields: list[dict], errors: list[dict] | None = None) -> list[dict]:
    """One editable row per field, with the inputs of every type's options (the page
    shows those of the chosen type)."""
    names = sorted(collection_names_by_id().values())
    rows = []
    for index, field in enumerate(fields):
        rows.append(
            {
                "index": index,
                "field": field,
                "removed": field.get("_removed", False),
                "types": [
                    {
                        "name": t,
                        "inputs": _option_inputs(
                            t,
                            field.get("options", {}) if t == field.get("type") else {},
                            names,
                        ),
                    }
                    for t in type_names()
                ],
                "errors": [
                    e
                    for e in errors or []
                    if (e.get("param") or "").startswith(f"fields.{field.get('_pos')}.")
                    or e.get("param") == f"fields.{field.get('_pos')}"
                ]
                if field.get("_pos") is not None
                else [],
            }
        )
    return rows


def _option_value(kind: str, raw: str, types: tuple):
    raw = raw.strip()
    if kind == "lines":
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if kind == "list":
        items = [part.strip() for part in raw.split(",") if part.strip()]
        return [json.loads(i) if i[:1] in "{[" else i for i in items]
    if raw == "":
        return None
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw  # refused by the service with a message on the option
        if number.is_integer() and (int in types):
            return int(number)
        return number
    return raw


def _fields_from_form(post, current) -> tuple[list[dict], list[dict]]:
    """(the rows as the page shows them, the `fields` list the service gets)."""
    by_id = {f["id"]: f for f in current["fields"]}
    count = int(post.get("field_count", "0") or 0)
    shown, sent = [], []
    for i in range(min(count, 210)):
        prefix = f"f{i}-"
        name = post.get(prefix + "name", "").strip()
        field_id = post.get(prefix + "id") or None
        if not field_id and not name:
            continue
        type_name = post.get(prefix + "type", "text")
        field = {"name": name, "type": type_name}
        if field_id:
            field["id"] = field_id
        for flag in ("required", "unique", "hidden"):
            field[flag] = post.get(prefix + flag) == "on"
        field_type = get_type(type_name)
        options = {}
        if field_type is not None:
            for option, (types, _) in field_type.option_types.items():
                key = f"{prefix}{type_name}-{option}"
                kind = next(
                    i["kind"]
                    for i in _option_inputs(type_name, {}, [])
                    if i["name"] == option
                )
                if kind == "bool":
                    options[option] = post.get(key) == "on"
                    continue
                try:
                    value = _option_value(kind, post.get(key, ""), types)
                except ValueError:
                    value = post.get(key, "")
                if value is not None and value != []:
                    options[option] = value
        field["options"] = options
        if field_id in by_id:
            field["rules"] = by_id[field_id]["rules"]
        removed = post.get(prefix + "remove") == "on"
        if removed:
            shown.append({**field, "_removed": True})
        else:
            shown.append({**field, "_pos": len(sent), "_row": i})
            sent.append(field)
    return shown, sent


def _indexes_from_form(post) -> list[dict]:
    indexes = []
    for i in range(min(int(post.get("index_count", "0") or 0), 40)):
        refs = [
            r.strip() for r in post.get(f"ix{i}-fields", "").split(",") if r.strip()
        ]
        if refs and post.get(f"ix{i}-remove") != "on":
            indexes.append(
                {"fields": refs, "unique": post.get(f"ix{i}-unique") == "on"}
            )
    return indexes


def _editor_context(spec_json: dict, **extra) -> dict:
    fields = [dict(f, _pos=i) for i, f in enumerate(spec_json["fields"])]
    definition = {
        "fields": spec_json["fields"],
        "indexes": spec_json["indexes"],
    }
    context = {
        "definition_json": json.dumps(definition, indent=2, ensure_ascii=False),
        "rows": _field_rows(fields),
        "new_row": dict(
            _field_rows([{"name": "", "type": "text", "options": {}}])[0], index="__i__"
        ),
        "indexes": spec_json["indexes"],
        "type_names": type_names(),
    }
    context.update(extra)
    return context


def _schema_page(request, spec, status: int = 200, **extra):
    spec_json = collection_to_json(spec)
    context = {"spec": spec, "tab": "schema", **_editor_context(spec_json, **extra)}
    return render(request, "admin_ui/collections/schema.html", context, status=status)


@console_page
@require_GET
def schema(request, name: str):
    try:
        spec = services.get_spec(name)
    except ApiError as exc:
        return render(
            request,
            "admin_ui/collections/missing.html",
            {"name": name},
            status=exc.status,
        )
    return _schema_page(request, spec)


def _proposal(request, current: dict) -> tuple[dict, list[dict] | None]:
    """The change the editor sent: from the field rows (`source=form`) or the JSON."""
    if request.POST.get("source") == "json":
        text = request.POST.get("definition", "")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput(
                f"Not valid JSON: {exc}", code="invalid_json", param="definition"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(
                "The definition must be a JSON object.", param="definition"
            )
        fields = data.get("fields")
        listed = fields if isinstance(fields, list) else []
        return data, [
            {"name": str(f.get("name") or ""), "_pos": i}
            for i, f in enumerate(listed)
            if isinstance(f, dict)
        ]
    shown, fields = _fields_from_form(request.POST, current)
    return {"fields": fields, "indexes": _indexes_from_form(request.POST)}, shown


def _shown(value) -> str:
    """A definition value as JSON text (null, true, "text", [..])."""
    return json.dumps(value, ensure_ascii=False)


def _labelled(errors: list[dict], shown: list[dict] | None) -> list[dict]:
    """Name the field an error's `fields.<n>...` param points at (its row's name)."""
    by_pos = {f["_pos"]: f for f in shown or [] if f.get("_pos") is not None}
    for error in errors:
        parts = (error.get("param") or "").split(".")
        if len(parts) > 1 and parts[0] == "fields" and parts[1].isdigit():
            field = by_pos.get(int(parts[1]))
            where = (
                f"field {field.get('name') or '(new)'}"
                if field
                else f"field {parts[1]}"
            )
            rest = ".".join(parts[2:])
            if field and field.get("_row") is not None:
                error["row"] = field["_row"]  # shown next to the field's row too
            error["where"] = f"{where}{' → ' + rest if rest else ''}"
        elif error.get("param"):
            error["where"] = error["param"]
    return errors


@console_page
@require_POST
def schema_preview(request, name: str):
    """The preview of the editor's change, rendered in place (htmx) before Apply."""
    try:
        current = collection_to_json(services.get_spec(name))
    except ApiError as exc:
        return HttpResponse(exc.errors[0].message, status=exc.status)
    shown = None
    try:
        data, shown = _proposal(request, current)
        result = preview.preview_update(actor=request.user, name=name, data=data)
    except ApiError as exc:
        context = {"errors": _labelled(_errors(exc), shown)}
        return render(
            request,
            "admin_ui/collections/_preview.html",
            context,
            status=exc.status,
        )
    for field in result["diff"]["changed"]:
        field["shown"] = [
            {"key": key, "from": _shown(c["from"]), "to": _shown(c["to"])}
            for key, c in field["changes"].items()
        ]
    context = {
        "result": result,
        "name": name,
        "data_json": json.dumps(data, ensure_ascii=False),
    }
    return render(request, "admin_ui/collections/_preview.html", context)


@console_page
@require_POST
def schema_apply(request, name: str):
    try:
        data = json.loads(request.POST.get("data", ""))
    except ValueError:
        messages.error(request, "Not applied: the change was not valid JSON.")
        return redirect(f"/console/collections/{name}/schema/")
    try:
        spec = services.collection_update(
            actor=request.user, name=name, data=data, request=request
        )
    except ApiError as exc:
        if request.htmx:
            return render(
                request,
                "admin_ui/collections/_preview.html",
                {"errors": _labelled(_errors(exc), None)},
                status=exc.status,
            )
        messages.error(request, f"Not applied: {exc.errors[0].message}")
        return redirect(f"/console/collections/{name}/schema/")
    messages.success(request, f"Schema of {spec.name} updated.")
    target = f"/console/collections/{spec.name}/schema/"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


# --- API tab ----------------------------------------------------------------------


def _example_value(field: dict):
    kind, options = field["type"], field["options"]
    if kind == "number":
        return 1
    if kind == "bool":
        return True
    if kind == "date":
        return "2026-01-02T03:04:05.000Z"
    if kind == "email":
        return "someone@example.com"
    if kind == "url":
        return "https://example.com"
    if kind == "select":
        first = (options.get("values") or ["value"])[0]
        return [first] if options.get("multiple") else first
    if kind == "json":
        return {"key": "value"}
    if kind == "relation":
        return ["RECORD_ID"] if options.get("multiple") else "RECORD_ID"
    if kind == "file":
        return None
    return "text"


def _snippets(request, spec) -> list[dict]:
    spec_json = collection_to_json(spec)
    base = request.build_absolute_uri("/").rstrip("/")
    name = spec.name
    body = {
        f["name"]: _example_value(f)
        for f in spec_json["fields"]
        if _example_value(f) is not None
    }
    first = spec_json["fields"][0]["name"] if spec_json["fields"] else None
    patch = {first: body[first]} if first in body else {}
    body_json = json.dumps(body, indent=2)
    patch_json = json.dumps(patch)
    py = repr
    url = f"{base}/api/v1/collections/{name}/records"
    auth = '-H "Authorization: Bearer $TOKEN"'
    curl = {
        "list": f'curl {auth} \\\n  "{url}?limit=20&sort=-created"',
        "get": f'curl {auth} \\\n  "{url}/RECORD_ID"',
        "create": f"curl -X POST {auth} \\\n  -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(body)}' \\\n  \"{url}\"",
        "update": f"curl -X PATCH {auth} \\\n  -H 'Content-Type: application/json' \\\n"
        f"  -d '{patch_json}' \\\n  \"{url}/RECORD_ID\"",
        "delete": f'curl -X DELETE {auth} \\\n  "{url}/RECORD_ID"',
    }
    js = (
        "import { createClient } from '@baas/client';\n\n"
        f"const client = createClient({{ baseUrl: '{base}' }});\n"
        f"const {name} = client.collection('{name}');\n\n"
        f"const page = await {name}.list({{ limit: 20, sort: '-created' }});\n"
        f"const record = await {name}.get('RECORD_ID');\n"
        f"const created = await {name}.create({body_json});\n"
        f"await {name}.update(created.id, {patch_json});\n"
        f"await {name}.delete(created.id);\n"
    )
    python = (
        "from baas_client import Client\n\n"
        f'client = Client("{base}")\n'
        f'{name} = client.collection("{name}")\n\n'
        f'page = {name}.list(limit=20, sort="-created")\n'
        f'record = {name}.get("RECORD_ID")\n'
        f"created = {name}.create({py(body)})\n"
        f'{name}.update(created["id"], {py(patch)})\n'
        f'{name}.delete(created["id"])\n'
    )
    return [
        {
            "id": "curl",
            "label": "curl",
            "code": "\n\n".join(
                f"# {action}\n{command}" for action, command in curl.items()
            ),
        },
        {"id": "js", "label": "JavaScript SDK", "code": js},
        {"id": "python", "label": "Python SDK", "code": python},
    ]


@console_page
@require_GET
def api_preview(request, name: str):
    try:
        spec = services.get_spec(name)
    except ApiError as exc:
        return render(
            request,
            "admin_ui/collections/missing.html",
            {"name": name},
            status=exc.status,
        )
    context = {
        "spec": spec,
        "tab": "api",
        "snippets": _snippets(request, spec),
        "fields": collection_to_json(spec)["fields"],
    }
    return render(request, "admin_ui/collections/api.html", context)


# --- import / export --------------------------------------------------------------


@console_page
@require_GET
def schema_export(request):
    response = JsonResponse(
        schema_io.schema_export(),
        json_dumps_params={"indent": 2, "ensure_ascii": False},
    )
    response["Content-Disposition"] = 'attachment; filename="schema.json"'
    return response


def _document(request) -> tuple[str, object]:
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > MAX_UPLOAD:
            raise InvalidInput("The file is larger than 2 MB.", param="file")
        raw = upload.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The file is not UTF-8 text.", param="file") from None
    else:
        text = request.POST.get("document", "")
    try:
        return text, json.loads(text)
    except ValueError as exc:
        raise InvalidInput(
            f"Not valid JSON: {exc}", code="invalid_json", param="document"
        ) from None


@console_page
@require_POST
def schema_import(request):
    """A dry run (the diff, shown in place), or the import itself (`apply`)."""
    apply = request.POST.get("apply") == "1"
    text = ""
    try:
        text, document = _document(request)
        result = schema_io.schema_import(
            actor=request.user, document=document, dry_run=not apply, request=request
        )
    except ApiError as exc:
        context = {"errors": _labelled(_errors(exc), None)}
        if apply and not request.htmx:
            messages.error(request, f"Not imported: {exc.errors[0].message}")
            return redirect("/console/collections/")
        return render(
            request, "admin_ui/collections/_import.html", context, status=exc.status
        )
    if apply:
        changed = sum(1 for c in result["changes"] if c.get("action") != "unchanged")
        messages.success(request, f"Schema imported: {changed} collection(s) changed.")
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = "/console/collections/"
            return response
        return redirect("/console/collections/")
    return render(
        request,
        "admin_ui/collections/_import.html",
        {"result": result, "document": text},
    )


urlpatterns = [
    path("collections/", collection_list, name="collections"),
    path("collections/-/export/", schema_export, name="collections-export"),
    path("collections/-/import/", schema_import, name="collections-import"),
    path("collections/<str:name>/rename/", collection_rename, name="collection-rename"),
    path("collections/<str:name>/delete/", collection_delete, name="collection-delete"),
    path("collections/<str:name>/schema/", schema, name="collection-schema"),
    path(
        "collections/<str:name>/schema/preview/",
        schema_preview,
        name="collection-schema-preview",
    ),
    path(
        "collections/<str:name>/schema/apply/",
        schema_apply,
        name="collection-schema-apply",
    ),
    path("collections/<str:name>/api/", api_preview, name="collection-api"),
]
