"""`file`: one or several stored files; the record holds their stored names.

Uploads are staged before the record's transaction (each object written under a
`pending` StoredFile row) and attached inside it, so a crash never leaves a record naming
a missing object; anything left pending is removed by the cleanup job.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models, transaction

from apps.collections.field_types import register
from apps.collections.field_types.base import FieldInvalid, FieldType, OptionsInvalid
from apps.core.exceptions import ErrorItem, InvalidInput, PayloadTooLarge
from apps.files import services
from apps.files.models import StoredFile
from apps.files.naming import valid_stored_name
from apps.files.thumbs import parse_thumb

DEFAULT_MAX_SIZE = 5 * 1024 * 1024
MAX_FILES = 100
MAX_TYPES = 100
MAX_THUMBS = 20


class StoredUpload(str):
    """A direct upload already in storage (checked by the completion call): its stored
    name, which is what rules see of it in `@request.body`."""

    row: StoredFile

    def __new__(cls, row: StoredFile) -> StoredUpload:
        upload = super().__new__(cls, row.name)
        upload.row = row
        return upload


def _is_upload(value) -> bool:
    """A file from a multipart body (Django's UploadedFile) or a finished direct upload."""
    if isinstance(value, StoredUpload):
        return True
    return hasattr(value, "read") and hasattr(value, "name") and hasattr(value, "size")


def _listed(value) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


class FileType(FieldType):
    name = "file"
    staged = True
    option_types = {
        "multiple": ((bool,), False),
        "max_size": ((int,), DEFAULT_MAX_SIZE),
        "mime_types": ((list,), []),
        "thumbs": ((list,), []),
        "protected": ((bool,), False),
        "max_select": ((int,), None),
    }

    def check_options(self, options, *, resolve_collection=None):
        limit = settings.BAAS_MAX_UPLOAD_SIZE
        if not 1 <= options["max_size"] <= limit:
            raise OptionsInvalid(f"max_size must be 1..{limit} bytes", "max_size")
        types = options["mime_types"]
        if len(types) > MAX_TYPES or not all(
            isinstance(t, str) and _valid_type(t) for t in types
        ):
            raise OptionsInvalid(
                "mime_types must list MIME types such as image/png or image/*",
                "mime_types",
            )
        thumbs = options["thumbs"]
        if len(thumbs) > MAX_THUMBS:
            raise OptionsInvalid(f"at most {MAX_THUMBS} thumb sizes", "thumbs")
        for thumb in thumbs:
            try:
                parse_thumb(thumb if isinstance(thumb, str) else "")
            except ValueError:
                raise OptionsInvalid(
                    f"thumbs: {thumb!r} is not WxH, WxHt, WxHb, WxHf, 0xH or Wx0",
                    "thumbs",
                ) from None
        options["mime_types"] = list(dict.fromkeys(t.lower() for t in types))
        options["thumbs"] = list(dict.fromkeys(thumbs))
        max_select = options["max_select"]
        if max_select is not None:
            if not options["multiple"]:
                raise OptionsInvalid("max_select needs multiple", "max_select")
            if not 1 <= max_select <= MAX_FILES:
                raise OptionsInvalid(f"max_select must be 1..{MAX_FILES}", "max_select")

    def model_field(self, spec, ctx):
        if spec.options.get("multiple"):
            return models.JSONField(null=True, db_column=spec.column)
        return models.TextField(null=True, db_column=spec.column)

    def to_internal(self, value, spec):
        """Stored names only (what a value already holds): uploads are staged writes."""
        names = _listed(value)
        if not all(valid_stored_name(n) for n in names):
            raise FieldInvalid("Must be stored file names.", "invalid_file_name")
        if spec.options.get("multiple"):
            return list(dict.fromkeys(names))
        if len(names) > 1:
            raise FieldInvalid("Holds one file.", "too_many_files")
        return names[0] if names else None

    def to_json(self, value, spec):
        if spec.options.get("multiple"):
            return list(value or [])
        return value

    def input_keys(self, spec):
        return (spec.name, f"{spec.name}+", f"{spec.name}-")

    def stage_write(self, spec, raw, *, collection_id, record_id):
        return FileWrite(spec, raw, collection_id=collection_id, record_id=record_id)

    def records_deleted(self, spec, *, collection_id, record_ids):
        services.release(collection_id, record_ids, field_id=spec.id)


def _valid_type(value: str) -> bool:
    major, slash, minor = value.partition("/")
    return bool(slash and major and minor) and " " not in value and len(value) < 128


class FileWrite:
    """One request's change to one file field: `name` sets, `name+` appends, `name-`
    removes. New uploads are stored (pending) when this is built."""

    def __init__(self, spec, raw: dict, *, collection_id: str, record_id: str) -> None:
        self.spec = spec
        self.multiple = bool(spec.options.get("multiple"))
        self.collection_id = collection_id
        self.record_id = record_id
        self.stored: list = []  # StoredFile rows this write attaches
        self.owned: list = []  # the ones written by this request (discarded on failure)
        name = spec.name
        self.replace = name in raw
        self.set_to = _listed(raw.get(name))
        self.append = _listed(raw.get(f"{name}+"))
        self.remove = _listed(raw.get(f"{name}-"))
        self._check_shapes()
        try:
            self.set_to = [self._store(v) if _is_upload(v) else v for v in self.set_to]
            self.append = [self._store(v) if _is_upload(v) else v for v in self.append]
        except BaseException:
            self.discard()
            raise

    def _error(self, code: str, message: str) -> InvalidInput:
        return InvalidInput(errors=[ErrorItem(code, message, self.spec.name)])

    def _check_shapes(self) -> None:
        for value in self.remove:
            if not isinstance(value, str):
                raise self._error("invalid", "Name the files to remove.")
        for value in self.set_to + self.append:
            if not _is_upload(value) and not valid_stored_name(value):
                raise self._error(
                    "unknown_file", "Send files, or the names of the record's files."
                )
        if any(not _is_upload(v) for v in self.append):
            raise self._error("invalid", f"{self.spec.name}+ takes uploaded files.")
        if not self.multiple and len(self.set_to) + len(self.append) > 1:
            raise self._error("too_many_files", "This field holds one file.")

    def _store(self, upload) -> str:
        options = self.spec.options
        if isinstance(upload, StoredUpload):
            self.stored.append(upload.row)
            return upload.row.name
        if upload.size > options["max_size"]:
            raise PayloadTooLarge(
                f"A file of {self.spec.name!r} may hold {options['max_size']} bytes.",
                code="file_too_large",
                param=self.spec.name,
            )
        row = services.store_upload(
            upload,
            collection_id=self.collection_id,
            record_id=self.record_id,
            field=self.spec,
        )
        self.stored.append(row)
        self.owned.append(row)
        return row.name

    def apply(self, current):
        """The names to store (inside the record's transaction); attaches the new files
        and releases the ones no longer named, after commit."""
        current_names = _listed(current)
        new_names = {row.name for row in self.stored}
        names = list(self.set_to) if self.replace else list(current_names)
        for name in names:
            if name not in new_names and name not in current_names:
                raise self._error("unknown_file", f"The record has no file {name!r}.")
        names += self.append
        removed = set(self.remove)
        names = [n for n in dict.fromkeys(names) if n not in removed]
        if self.spec.required and not names:
            raise self._error("required", "This field is required.")
        limit = self.spec.options.get("max_select") or (
            MAX_FILES if self.multiple else 1
        )
        if len(names) > limit:
            raise self._error("too_many_files", f"At most {limit} files.")
        services.attach([row.pk for row in self.stored if row.name in names])
        gone = [n for n in current_names if n not in names]
        if gone:
            services.release(
                self.collection_id, [self.record_id], field_id=self.spec.id, names=gone
            )
        unused = [row for row in self.owned if row.name not in names]
        if unused:  # sent and removed in one request
            transaction.on_commit(lambda: services.delete_rows(unused), robust=True)
        services.schedule_thumbs(self.spec, [r for r in self.stored if r.name in names])
        if self.multiple:
            return names
        return names[0] if names else None

    def discard(self) -> None:
        services.delete_rows(self.owned)
        self.owned = []


register(FileType())
