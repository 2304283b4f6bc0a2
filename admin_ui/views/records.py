"""Console pages: a collection's records (grid, inline edit, editor, bulk delete, import,
export, and the realtime token the grid's live updates use).

Every read and write goes through the record services (`record_list`, `record_create`,
`record_update`, `record_delete`) as the superuser, as the API does (DESIGN decision 4).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re

import orjson
from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods, require_POST

from admin_ui.access import console_page
from apps.collections.field_types import get_type
from apps.collections.rule_fields import field_kind
from apps.collections.services import get_spec, get_spec_by_id
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.exceptions import ApiError, NotFound
from apps.records.records import (
    record_create,
    record_delete,
    record_get,
    record_update,
)
from apps.records.records_list import SORTABLE_KINDS, record_list

PAGE_SIZE = 50
EXPORT_PAGE = 500
MAX_IMPORT_ROWS = 10_000
IMPORT_PROGRESS_EVERY = 100  # rows between two progress lines of a streamed import
MAX_IMPORT_ERRORS = 200  # refused rows whose errors an import reports
INLINE_TYPES = frozenset({"text", "number", "bool", "select", "email", "url"})
_POSITION = re.compile(r"at position (\d+)")
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
log = logging.getLogger(__name__)


# --- columns and values ---------------------------------------------------------------


class Column:
    """One grid column: a field (or a system field), how to show and sort it."""

    def __init__(self, name: str, kind: str, field: FieldSpec | None = None) -> None:
        self.name, self.kind, self.field = name, kind, field
        self.sortable = kind in ("id", "created", "updated", "email") or bool(
            field is not None
            and field_kind(field) in SORTABLE_KINDS
            and not get_type(field.type).is_many(field)
        )
        self.inline = bool(
            field is not None
            and field.type in INLINE_TYPES
            and not (field.type == "select" and field.options.get("multiple"))
        )
        self.sort_query: str | None = None
        self.sorted: str | None = None


def _all_columns(spec: CollectionSpec) -> list[Column]:
    columns = [Column("id", "id")]
    if spec.is_auth:
        columns.append(Column("email", "email"))
    columns += [Column(f.name, f.type, f) for f in spec.fields]
    columns += [Column("created", "created"), Column("updated", "updated")]
    return columns


def _chosen(request: HttpRequest, spec: CollectionSpec) -> tuple[list, list, bool]:
    """(all columns, shown columns, whether the choice is the default)."""
    columns = _all_columns(spec)
    wanted = [n for item in request.GET.getlist("col") for n in item.split(",") if n]
    if not wanted:
        return columns, columns, True
    shown = [c for c in columns if c.name == "id" or c.name in wanted]
    return columns, shown, False


def display(value, kind: str) -> str:
    """A value as grid text (escaped by the template)."""
    if value is None or value == "" or value == []:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("date", "created", "updated") and isinstance(value, str):
        return value[:19].replace("T", " ")  # UTC; the cell's title has it all
    if isinstance(value, (dict, list)):
        if kind in ("select", "relation", "file") and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return orjson.dumps(value).decode()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rows(items: list[dict], shown: list[Column]) -> list[dict]:
    return [
        {
            "id": item["id"],
            "cells": [
                {
                    "column": c,
                    "text": display(item.get(c.name), c.kind),
                    "full": display(item.get(c.name), "text"),
                }
                for c in shown
            ],
        }
        for item in items
    ]


def _query(request: HttpRequest, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()


def _error_texts(exc: ApiError) -> tuple[dict[str, list[str]], list[str]]:
    """Error messages by field (`param`) and the rest."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for item in exc.errors:
        if item.param:
            name = item.param.rstrip("+-")
            by_field.setdefault(name, []).append(item.message)
        else:
            general.append(item.message)
    return by_field, general


# --- the grid --------------------------------------------------------------------------


def _grid_context(request: HttpRequest, spec: CollectionSpec) -> tuple[dict, int]:
    columns, shown, default = _chosen(request, spec)
    sort = request.GET.get("sort") or "-created"
    filter_text = request.GET.get("filter", "")
    params = {"limit": str(PAGE_SIZE), "sort": sort, "count": "1"}
    if filter_text:
        params["filter"] = filter_text
    if request.GET.get("cursor"):
        params["cursor"] = request.GET["cursor"]
    if not default:
        params["fields"] = ",".join(c.name for c in shown)
    context: dict = {
        "spec": spec,
        "tab": "records",
        "columns": columns,
        "shown": shown,
        "shown_names": {c.name for c in shown},
        "sort": sort,
        "filter": filter_text,
        "rows": [],
        "total": None,
        "next_query": None,
        "first_query": _query(request, cursor=None)
        if "cursor" in request.GET
        else None,
        "filter_error": None,
        "filter_position": None,
        "error": None,
    }
    status = 200
    try:
        body = record_list(actor=request.user, collection=spec.name, params=params)
    except ApiError as exc:
        status = exc.status
        message = exc.errors[0].message
        if exc.errors[0].param == "filter":
            context["filter_error"] = message
            match = _POSITION.search(message)
            if match:
                context["filter_position"] = int(match.group(1))
        else:
            context["error"] = message
        return context, status
    context["rows"] = _rows(body["items"], shown)
    context["total"] = body.get("total")
    if body["next_cursor"]:
        context["next_query"] = _query(request, cursor=body["next_cursor"])
    for column in shown:
        if column.sortable:
            flipped = f"-{column.name}" if sort == column.name else column.name
            column.sort_query = _query(request, sort=flipped, cursor=None)
            column.sorted = (
                "ascending"
                if sort == column.name
                else "descending"
                if sort == f"-{column.name}"
                else None
            )
    return context, status


def _spec_or_404(request: HttpRequest, name: str):
    try:
        return get_spec(name)
    except ApiError:
        return None


def _missing(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "admin_ui/records/missing.html", {"name": name}, status=404)


@console_page
def records_page(request: HttpRequest, name: str) -> HttpResponse:
    spec = _spec_or_404(request, name)
    if spec is None:
        return _missing(request, name)
    context, status = _grid_context(request, spec)
    template = "admin_ui/records/page.html"
    if request.htmx and request.headers.get("HX-Target") == "grid":
        template = "admin_ui/records/_grid.html"
    return render(request, template, context, status=status)


# --- inline edit -----------------------------------------------------------------------


def _inline_value(field: FieldSpec, raw: str):
    if field.type == "bool":
        return raw == "true"
    if field.type == "number":
        return _number(raw)
    if raw == "" and field.type != "text":
        return None
    return raw


def _number(raw: str):
    raw = raw.strip()
    if raw == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        return raw  # the service says what is wrong with it
    return int(number) if number.is_integer() and "." not in raw else number


@console_page
@require_http_methods(["GET", "POST"])
def record_cell(request: HttpRequest, name: str, record_id: str, field_name: str):
    """GET: the cell's edit form; POST: save one field (a PATCH through record_update)
    and answer the cell as it now reads, or the form with the service's error."""
    spec = _spec_or_404(request, name)
    field = spec.field_by_name(field_name) if spec else None
    if field is None or field.type not in INLINE_TYPES:
        return HttpResponse("This value cannot be edited here.", status=404)
    column = Column(field.name, field.type, field)
    context = {"spec": spec, "field": field, "record_id": record_id, "column": column}
    if request.method == "GET":
        try:
            record = record_get(
                actor=request.user, collection=spec.name, record_id=record_id
            )
        except ApiError as exc:
            return HttpResponse(exc.errors[0].message, status=exc.status)
        value = record.get(field.name)
        context["value"] = "" if value is None else display(value, field.type)
        context["bool_value"] = bool(value)
        if request.GET.get("cancel"):
            context["cell"] = {"column": column, "text": display(value, field.type)}
            return render(request, "admin_ui/records/_cell.html", context)
        return render(request, "admin_ui/records/_cell_form.html", context)
    raw = request.POST.get("value", "")
    try:
        record = record_update(
            actor=request.user,
            collection=spec.name,
            record_id=record_id,
            data={field.name: _inline_value(field, raw)},
        )
    except ApiError as exc:
        context["value"] = raw
        context["bool_value"] = raw == "true"
        context["error"] = " ".join(item.message for item in exc.errors)
        return render(
            request, "admin_ui/records/_cell_form.html", context, status=exc.status
        )
    context["cell"] = {
        "column": column,
        "text": display(record.get(field.name), field.type),
    }
    context["saved"] = True
    return render(request, "admin_ui/records/_cell.html", context)


# --- bulk delete -----------------------------------------------------------------------


@console_page
@require_POST
def records_delete(request: HttpRequest, name: str) -> HttpResponse:
    spec = _spec_or_404(request, name)
    if spec is None:
        return _missing(request, name)
    ids = request.POST.getlist("ids")
    deleted, failed = 0, []
    for record_id in ids:
        try:
            record_delete(actor=request.user, collection=spec.name, record_id=record_id)
        except ApiError as exc:
            failed.append(f"{record_id}: {exc.errors[0].message}")
        else:
            deleted += 1
    if deleted:
        messages.success(
            request, f"Deleted {deleted} record{'s' if deleted != 1 else ''}."
        )
    for text in failed:
        messages.error(request, f"Not deleted {text}")
    if not ids:
        messages.warning(request, "No records were selected.")
    back = request.POST.get("back", "")
    target = f"/console/collections/{spec.name}/"
    if back.startswith("?"):
        target += back
    return redirect(target)


# --- the record editor -----------------------------------------------------------------


class EditorField:
    """One input of the editor, with its current value and errors."""

    def __init__(self, field: FieldSpec, value, errors: list[str]) -> None:
        self.field, self.name, self.type = field, field.name, field.type
        self.errors = errors
        self.multiple = bool(field.options.get("multiple"))
        self.required = field.required
        self.raw = value
        self.text = self._text(value)
        self.choices = list(field.options.get("values") or [])
        self.chosen: set = set()
        if field.type == "select":
            listed = value if isinstance(value, list) else [value]
            self.chosen = {v for v in listed if isinstance(v, str)}
        self.files = (
            [v for v in (value if isinstance(value, list) else [value]) if v]
            if field.type == "file"
            else []
        )
        self.step = "1" if field.options.get("integer") else "any"

    def _text(self, value) -> str:
        if value is None:
            return ""
        if self.type == "json":
            if isinstance(value, str) and value and not _is_json(value):
                return value  # as typed, with its error
            return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
        if self.type == "date" and isinstance(value, str):
            return value.replace("Z", "")[:19].replace(" ", "T")
        if self.type == "relation" and isinstance(value, list):
            return ", ".join(value)
        if self.type == "number" and isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _form_payload(spec: CollectionSpec, post: QueryDict, files, *, creating: bool):
    """The record payload a JSON body would have carried, from the editor's form."""
    data: dict = {}
    local_errors: dict[str, list[str]] = {}
    if spec.is_auth:
        data["email"] = post.get("email", "").strip()
        password = post.get("password", "")
        if creating or password:
            data["password"] = password
    for field in spec.fields:
        key, kind = field.name, field.type
        multiple = bool(field.options.get("multiple"))
        if kind == "file":
            uploads = files.getlist(key)
            removed = post.getlist(f"{key}-")
            if creating:
                if uploads:
                    data[key] = uploads
            else:
                if uploads:
                    data[f"{key}+" if multiple else key] = uploads
                if removed:
                    data[f"{key}-"] = removed
            continue
        if kind == "bool":
            data[key] = post.get(key) == "true"
            continue
        if kind == "select" and multiple:
            data[key] = post.getlist(key)
            continue
        raw = post.get(key, "")
        if kind == "number":
            data[key] = _number(raw)
        elif kind == "json":
            if raw.strip() == "":
                data[key] = None
            else:
                try:
                    data[key] = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    local_errors[key] = [f"Not valid JSON: {exc}"]
                    data[key] = raw
        elif kind == "relation":
            ids = [part.strip() for part in re.split(r"[,\s]+", raw) if part.strip()]
            data[key] = ids if multiple else (ids[0] if ids else None)
        elif kind == "date":
            raw = raw.strip()
            if _LOCAL_DATETIME.match(raw):
                raw += ("" if raw.count(":") == 2 else ":00") + "Z"
            data[key] = raw or None
        elif kind == "text":
            data[key] = raw
        else:
            data[key] = raw.strip() or None
    return data, local_errors


def _editor_context(spec, record, values, errors, general, creating):
    fields = [
        EditorField(f, values.get(f.name), errors.get(f.name, [])) for f in spec.fields
    ]
    targets = {}
    for f in fields:
        if f.type == "relation":
            try:
                targets[f.name] = get_spec_by_id(f.field.options["collection"]).name
            except Exception:  # a target that vanished: the picker is left out
                targets[f.name] = None
            f.target = targets[f.name]
    return {
        "spec": spec,
        "tab": "records",
        "record": record,
        "creating": creating,
        "fields": fields,
        "email": values.get("email", ""),
        "email_errors": errors.get("email", []),
        "password_errors": errors.get("password", []),
        "id_errors": errors.get("id", []),
        "general": general,
        "multipart": any(f.type == "file" for f in spec.fields),
    }


@console_page
@require_http_methods(["GET", "POST"])
def record_editor(request: HttpRequest, name: str, record_id: str | None = None):
    spec = _spec_or_404(request, name)
    if spec is None:
        return _missing(request, name)
    creating = record_id is None
    record: dict = {}
    if not creating:
        try:
            record = record_get(
                actor=request.user, collection=spec.name, record_id=record_id
            )
        except NotFound:
            return _missing(request, f"{spec.name}/{record_id}")
    if request.method == "GET":
        context = _editor_context(spec, record, record, {}, [], creating)
        return render(request, "admin_ui/records/editor.html", context)
    data, errors = _form_payload(spec, request.POST, request.FILES, creating=creating)
    general: list[str] = []
    status = 400
    if not errors:
        try:
            if creating:
                saved = record_create(
                    actor=request.user, collection=spec.name, data=data
                )
            else:
                saved = record_update(
                    actor=request.user,
                    collection=spec.name,
                    record_id=record_id,
                    data=data,
                )
        except ApiError as exc:
            errors, general = _error_texts(exc)
            status = exc.status
        else:
            verb = "Created" if creating else "Saved"
            messages.success(request, f"{verb} record {saved['id']}.")
            return redirect(f"/console/collections/{spec.name}/")
    values = {**record, **{k: v for k, v in data.items() if not k.endswith(("+", "-"))}}
    for field in spec.fields:
        if field.type == "file":
            values[field.name] = record.get(field.name)
    context = _editor_context(spec, record, values, errors, general, creating)
    return render(request, "admin_ui/records/editor.html", context, status=status)


def _label_of(target: CollectionSpec, item: dict) -> str:
    """What a related record is shown as: its first text-like value, else its id."""
    if target.is_auth and item.get("email"):
        return str(item["email"])
    for field in target.fields:
        if field.type in ("text", "email", "url", "select") and item.get(field.name):
            return display(item[field.name], field.type)
    return item["id"]


@console_page
def relation_options(request: HttpRequest, name: str, field_name: str):
    """The relation picker's search: records of the target collection matching `q`."""
    spec = _spec_or_404(request, name)
    field = spec.field_by_name(field_name) if spec else None
    if field is None or field.type != "relation":
        return HttpResponse("No such relation field.", status=404)
    target = get_spec_by_id(field.options["collection"])
    query = request.GET.get(f"q-{field.name}", request.GET.get("q", "")).strip()
    params = {"limit": "10", "sort": "-created"}
    if query:
        quoted = query.replace("\\", "\\\\").replace("'", "\\'")
        parts = [f"id = '{quoted}'"]
        if target.is_auth:
            parts.append(f"email ~ '{quoted}'")
        parts += [
            f"{f.name} ~ '{quoted}'"
            for f in target.fields
            if f.type in ("text", "email", "url") and not f.hidden
        ]
        params["filter"] = " || ".join(parts)
    try:
        body = record_list(actor=request.user, collection=target.name, params=params)
        error = None
    except ApiError as exc:
        body, error = {"items": []}, exc.errors[0].message
    options = [{"id": i["id"], "label": _label_of(target, i)} for i in body["items"]]
    context = {
        "field": field,
        "options": options,
        "error": error,
        "multiple": bool(field.options.get("multiple")),
    }
    return render(request, "admin_ui/records/_relation_options.html", context)


# --- export and import -----------------------------------------------------------------


def _export_names(spec: CollectionSpec) -> list[str]:
    names = ["id"] + (["email"] if spec.is_auth else [])
    return names + [f.name for f in spec.fields] + ["created", "updated"]


def _pages(actor, spec: CollectionSpec, filter_text: str):
    """Every record, one cursor page at a time (never the whole table in memory)."""
    params = {"limit": str(EXPORT_PAGE), "sort": "-created"}
    if filter_text:
        params["filter"] = filter_text
    while True:
        body = record_list(actor=actor, collection=spec.name, params=params)
        yield body["items"]
        if not body["next_cursor"]:
            return
        params["cursor"] = body["next_cursor"]


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _csv_stream(actor, spec: CollectionSpec, filter_text: str):
    names = _export_names(spec)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(names)
    for items in _pages(actor, spec, filter_text):
        for item in items:
            writer.writerow([_csv_cell(item.get(n)) for n in names])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _json_stream(actor, spec: CollectionSpec, filter_text: str):
    """A JSON array, one record per line (what the progress counter counts)."""
    yield "["
    first = True
    for items in _pages(actor, spec, filter_text):
        chunk = []
        for item in items:
            chunk.append(("\n" if first else ",\n") + orjson.dumps(item).decode())
            first = False
        yield "".join(chunk)
    yield "\n]\n"


@console_page
def records_export(request: HttpRequest, name: str, fmt: str) -> HttpResponse:
    spec = _spec_or_404(request, name)
    if spec is None:
        return _missing(request, name)
    filter_text = request.GET.get("filter", "")
    try:  # a bad filter is refused before the download starts
        record_list(
            actor=request.user,
            collection=spec.name,
            params={"limit": "1", "filter": filter_text}
            if filter_text
            else {"limit": "1"},
        )
    except ApiError as exc:
        return HttpResponse(exc.errors[0].message, status=exc.status)
    stream = _csv_stream if fmt == "csv" else _json_stream
    content_type = "text/csv" if fmt == "csv" else "application/json"
    response = StreamingHttpResponse(
        stream(request.user, spec, filter_text),
        content_type=f"{content_type}; charset=utf-8",
    )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = (
        f'attachment; filename="{spec.name}-{stamp}.{fmt}"'
    )
    return response


def _csv_value(field: FieldSpec | None, key: str, raw: str):
    """A CSV cell as the value a JSON body would carry for its field."""
    if field is None:
        return raw
    kind, multiple = field.type, bool(field.options.get("multiple"))
    if raw == "":
        return [] if multiple else (False if kind == "bool" else None)
    if kind == "number":
        return _number(raw)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        return raw
    if kind == "json" or multiple:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw if kind == "json" else [raw]
    return raw


def _import_rows(spec: CollectionSpec, upload) -> list[dict]:
    raw = upload.read()
    name = (upload.name or "").lower()
    if name.endswith(".json") or raw.lstrip()[:1] in (b"[", b"{"):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"The file is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            data = data.get("items", [data])
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError("A JSON import is an array of record objects.")
        return [
            {k: v for k, v in row.items() if k not in ("created", "updated")}
            for row in data
        ]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("A CSV import must be UTF-8 text.") from None
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        payload = {}
        for key, value in row.items():
            if key is None or key in ("created", "updated"):
                continue
            if key == "id" and not value:
                continue
            if key == "password" and not value:
                continue
            field = spec.field_by_name(key)
            if field is not None and field.type == "file":
                continue  # files are uploaded, not named, by an import
            payload[key] = _csv_value(field, key, value or "")
        rows.append(payload)
    return rows


def _import(actor, spec: CollectionSpec, rows: list[dict]):
    """Create the rows one by one through `record_create` (hooks, rules, change log and
    audit as for the API); a refused row is reported and the next one tried. Yields a
    progress dict every IMPORT_PROGRESS_EVERY rows (and one before the first row), then
    the summary: the counts and the first MAX_IMPORT_ERRORS refused rows' errors."""
    total, created, failed, failures = len(rows), 0, 0, []

    def progress(done: int) -> dict:
        return {"done": done, "total": total, "created": created, "failed": failed}

    yield progress(0)
    done, stopped = 0, None
    for number, row in enumerate(rows, start=1):
        try:
            record_create(actor=actor, collection=spec.name, data=row)
        except ApiError as exc:
            failed += 1
            if len(failures) < MAX_IMPORT_ERRORS:
                texts = [
                    f"{item.param}: {item.message}" if item.param else item.message
                    for item in exc.errors
                ]
                failures.append({"row": number, "errors": texts})
        except Exception:  # a server fault: stop here, say so, keep what was created
            log.exception("Import into %s stopped at row %d", spec.name, number)
            stopped = number
            break
        else:
            created += 1
        done = number
        if done % IMPORT_PROGRESS_EVERY == 0 and done < total:
            yield progress(done)
    summary = progress(done) | {
        "finished": True,
        "errors": failures,
        "more_errors": failed - len(failures),
    }
    if stopped is not None:
        summary["stopped"] = stopped
        summary["error"] = (
            f"The server failed on row {stopped:,}: the import stopped there. "
            "The rows before it were imported as reported."
        )
    yield summary


def _ndjson(events):
    for event in events:
        yield orjson.dumps(event) + b"\n"


def _wants_stream(request: HttpRequest) -> bool:
    """The import page's script asks for the NDJSON progress stream; a plain form
    post (no script) gets the result page."""
    return "application/x-ndjson" in request.headers.get("Accept", "")


@console_page
@require_http_methods(["GET", "POST"])
def records_import(request: HttpRequest, name: str) -> HttpResponse:
    spec = _spec_or_404(request, name)
    if spec is None:
        return _missing(request, name)
    context: dict = {
        "spec": spec,
        "tab": "records",
        "result": None,
        "error": None,
        "max_rows": f"{MAX_IMPORT_ROWS:,}",
    }
    if request.method == "GET":
        return render(request, "admin_ui/records/import.html", context)
    stream = _wants_stream(request)

    def refuse(message: str) -> HttpResponse:
        if stream:
            return JsonResponse({"error": message}, status=400)
        context["error"] = message
        return render(request, "admin_ui/records/import.html", context, status=400)

    upload = request.FILES.get("file")
    if upload is None:
        return refuse("Choose a CSV or JSON file to import.")
    try:
        rows = _import_rows(spec, upload)
    except ValueError as exc:
        return refuse(str(exc))
    if len(rows) > MAX_IMPORT_ROWS:
        return refuse(f"At most {MAX_IMPORT_ROWS:,} rows per import.")
    if stream:
        response = StreamingHttpResponse(
            _ndjson(_import(request.user, spec, rows)),
            content_type="application/x-ndjson; charset=utf-8",
        )
        response.compress = False  # gzip would hold the small lines back
        response["X-Accel-Buffering"] = "no"  # nor should a proxy in front
        return response
    *_, summary = _import(request.user, spec, rows)
    context["result"] = {
        "rows": summary["total"],
        "created": summary["created"],
        "failed": summary["failed"],
        "failures": summary["errors"],
        "more_failures": summary["more_errors"],
        "error": summary.get("error"),
    }
    return render(request, "admin_ui/records/import.html", context)


# --- the realtime token ----------------------------------------------------------------


@console_page
@require_POST
def realtime_token(request: HttpRequest) -> HttpResponse:
    """A short-lived access token for the grid's realtime socket, bound to this console
    session (it ends with it): the socket's `auth` frame carries it."""
    from allauth.headless.tokens.strategies.jwt import internal as jwt_internal
    from allauth.usersessions.models import UserSession
    from django.conf import settings

    if not request.session.session_key:
        return JsonResponse({"error": "No session."}, status=403)
    if not UserSession.objects.filter(session_key=request.session.session_key).exists():
        UserSession.objects.create_from_request(request)
    token = jwt_internal.create_access_token(
        request.user, request.session, {"aud": settings.JWT_AUDIENCE}
    )
    return JsonResponse({"token": token})


urlpatterns = [
    path("realtime-token/", realtime_token, name="realtime-token"),
    path("collections/<str:name>/", records_page, name="records"),
    path("collections/<str:name>/records/new/", record_editor, name="record-new"),
    path(
        "collections/<str:name>/records/delete/", records_delete, name="records-delete"
    ),
    path(
        "collections/<str:name>/records/import/", records_import, name="records-import"
    ),
    path(
        "collections/<str:name>/records/export.csv",
        records_export,
        {"fmt": "csv"},
        name="records-export-csv",
    ),
    path(
        "collections/<str:name>/records/export.json",
        records_export,
        {"fmt": "json"},
        name="records-export-json",
    ),
    path(
        "collections/<str:name>/records/pick/<str:field_name>/",
        relation_options,
        name="records-pick",
    ),
    path(
        "collections/<str:name>/records/<str:record_id>/",
        record_editor,
        name="record-edit",
    ),
    path(
        "collections/<str:name>/records/<str:record_id>/cell/<str:field_name>/",
        record_cell,
        name="record-cell",
    ),
]
