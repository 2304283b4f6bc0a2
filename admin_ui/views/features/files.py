"""Console page: the stored files of every collection, with totals, thumbnails of
images and downloads for the superuser (served like the API serves them:
apps.files.delivery, with its sandboxing headers)."""

from __future__ import annotations

from django.db.models import Count, Sum
from django.http import Http404
from django.shortcuts import render
from django.urls import path

from admin_ui.access import console_page
from apps.collections.services import list_specs
from apps.core.exceptions import ApiError
from apps.core.paging import newest_first
from apps.files import thumbnails
from apps.files.delivery import Served, respond
from apps.files.models import StoredFile
from apps.files.thumbs import THUMBABLE_TYPES, ThumbError

THUMB = "96x96"
PAGE_SIZE = 50


def _attached(file_id: str) -> StoredFile:
    row = StoredFile.objects.filter(pk=file_id, state=StoredFile.ATTACHED).first()
    if row is None:
        raise Http404("No such file.")
    return row


@console_page
def files_page(request):
    specs = sorted(list_specs(), key=lambda s: s.name.lower())
    with_files = [s for s in specs if any(f.type == "file" for f in s.fields)]
    names = {s.id: s.name for s in specs}
    fields = {f.id: f.name for s in specs for f in s.fields}
    rows = StoredFile.objects.filter(state=StoredFile.ATTACHED)
    chosen = request.GET.get("collection", "")
    error = None
    if chosen:
        found = next((s for s in specs if s.name == chosen), None)
        if found is None:
            error = f"No collection named {chosen!r}."
            rows = rows.none()
        else:
            rows = rows.filter(collection_id=found.id)
    totals = rows.aggregate(count=Count("pk"), bytes=Sum("size"))
    try:
        page, next_cursor = newest_first(
            rows, "created", {"limit": str(PAGE_SIZE), **_cursor(request)}
        )
    except ApiError as exc:
        page, next_cursor = [], None
        error = exc.errors[0].message if exc.errors else str(exc)
    items = [
        {
            "row": row,
            "collection": names.get(row.collection_id, row.collection_id),
            "field": fields.get(row.field_id, row.field_id),
            "image": row.content_type in THUMBABLE_TYPES,
            "ext": _extension(row.name),
        }
        for row in page
    ]
    context = {
        "items": items,
        "collections": with_files,
        "chosen": chosen,
        "count": totals["count"] or 0,
        "bytes": totals["bytes"] or 0,
        "next_cursor": next_cursor,
        "paged": bool(request.GET.get("cursor")),
        "error": error,
    }
    return render(
        request, "admin_ui/files/index.html", context, status=400 if error else 200
    )


def _extension(name: str) -> str:
    """What the file icon says: the name's extension, short."""
    stem, dot, ext = name.rpartition(".")
    return ext[:4].upper() if dot and stem else "FILE"


def _cursor(request) -> dict:
    cursor = request.GET.get("cursor")
    return {"cursor": cursor} if cursor else {}


@console_page
def file_download(request, file_id: str):
    """The file itself, always as an attachment (the superuser sees every file)."""
    row = _attached(file_id)
    return respond(request, Served.file(row, public=False, download=True))


@console_page
def file_thumb(request, file_id: str):
    """A small thumbnail of an image, made once and kept next to the file (it goes
    with the file: apps.files.services.delete_rows)."""
    row = _attached(file_id)
    if row.content_type not in THUMBABLE_TYPES:
        raise Http404("Not an image.")
    try:
        made = thumbnails.ensure(row, THUMB)
    except (ThumbError, OSError):
        raise Http404("No thumbnail for this image.") from None
    return respond(
        request, Served.thumb(row, THUMB, made, public=False, download=False)
    )


urlpatterns = [
    path("files/", files_page, name="files"),
    path("files/<str:file_id>/download/", file_download, name="file-download"),
    path("files/<str:file_id>/thumb/", file_thumb, name="file-thumb"),
]
