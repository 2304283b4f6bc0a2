"""Record payloads in and out: validation against the field definitions, and rendering."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from apps.collections.field_types import FieldInvalid, get_type
from apps.collections.field_types.email import EmailType
from apps.collections.field_types.relation import valid_id
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.exceptions import ErrorItem, InvalidInput

READ_ONLY = frozenset({"created", "updated"})
_email = EmailType()


def _contains_nul(value) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


class RecordInput:
    """Validated input: scalar column values and multi-relation id lists, by attname."""

    def __init__(self) -> None:
        self.columns: dict[str, object] = {}
        self.many: dict[str, list[str]] = {}
        self.record_id: str | None = None
        self.password: str | None = None
        #: staged fields (files): the payload values of their input keys, by field
        self.staged: list[tuple[FieldSpec, dict]] = []


def parse_record_input(spec: CollectionSpec, data, *, partial: bool) -> RecordInput:
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.", code="invalid_type")
    errors: list[ErrorItem] = []
    result = RecordInput()
    allowed = spec.input_keys
    for key in data:
        if key in READ_ONLY:
            errors.append(ErrorItem("read_only", f"{key} is set by the server.", key))
        elif key not in allowed:
            errors.append(
                ErrorItem("unknown_field", f"{spec.name!r} has no field {key!r}.", key)
            )
    if "id" in data:
        if partial:
            if data["id"] is not None:
                errors.append(
                    ErrorItem("read_only", "A record's id cannot change.", "id")
                )
        elif not valid_id(data["id"]) or len(data["id"]) != 15:
            errors.append(
                ErrorItem(
                    "invalid_id", "An id is 15 lowercase letters or digits.", "id"
                )
            )
        else:
            result.record_id = data["id"]
    if spec.is_auth:
        _parse_auth_input(data, partial, result, errors)
    for field in spec.fields:
        field_type = get_type(field.type)
        if field_type.staged:
            _parse_staged(field, field_type, data, partial, result, errors)
            continue
        if field.name not in data:
            if not partial and field.required:
                errors.append(
                    ErrorItem("required", "This field is required.", field.name)
                )
            continue
        raw = data[field.name]
        if _contains_nul(raw):
            errors.append(
                ErrorItem("invalid", "Must not contain NUL characters.", field.name)
            )
            continue
        try:
            value = field_type.to_internal(raw, field)
        except FieldInvalid as exc:
            errors.append(ErrorItem(exc.code, exc.message, field.name))
            continue
        if field.required and field_type.is_empty(value):
            errors.append(ErrorItem("required", "This field is required.", field.name))
            continue
        if field_type.is_many(field):
            result.many[field.attname] = value
        else:
            result.columns[field_type.write_name(field)] = value
    if errors:
        raise InvalidInput(errors=errors)
    return result


def _parse_staged(field, field_type, data, partial, result, errors) -> None:
    """Staged fields (files) are written by the record service; here their input is
    gathered, and a required one checked for something to hold."""
    raw = {key: data[key] for key in field_type.input_keys(field) if key in data}
    if not partial and field.required and field_type.is_empty(raw.get(field.name)):
        errors.append(ErrorItem("required", "This field is required.", field.name))
        return
    if raw:
        result.staged.append((field, raw))


def _parse_auth_input(
    data, partial: bool, result: RecordInput, errors: list[ErrorItem]
) -> None:
    if "email" in data or not partial:
        try:
            email = _email.to_internal(data.get("email"), None)
        except FieldInvalid as exc:
            errors.append(ErrorItem(exc.code, exc.message, "email"))
        else:
            if email is None:
                errors.append(ErrorItem("required", "This field is required.", "email"))
            else:
                result.columns["email"] = email.lower()
    if "password" in data or not partial:
        password = data.get("password")
        if not isinstance(password, str) or not password:
            errors.append(ErrorItem("required", "A password is required.", "password"))
        elif len(password) > 256:
            errors.append(ErrorItem("too_long", "At most 256 characters.", "password"))
        else:
            try:
                validate_password(password)
            except ValidationError as exc:
                errors.append(
                    ErrorItem("weak_password", " ".join(exc.messages), "password")
                )
            else:
                result.password = password


def row_attnames(spec: CollectionSpec) -> list[str]:
    names = ["id", "created", "updated"] + (["email"] if spec.is_auth else [])
    names += [f.attname for f in spec.fields if not get_type(f.type).is_many(f)]
    return names
