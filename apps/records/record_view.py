"""What one actor sees of a collection's records: which columns to select, which fields
to show on each row (field access), and rendering to the API shape."""

from __future__ import annotations

from functools import cached_property

from django.db.models import BooleanField, ExpressionWrapper, Q

from apps.collections.access import Access
from apps.collections.field_types import FieldType, get_type
from apps.collections.field_types.date import format_datetime
from apps.collections.spec import FieldSpec
from apps.core.exceptions import InvalidInput


def _through(model, field: FieldSpec):
    m2m = model._meta.get_field(field.attname)
    return m2m.remote_field.through, m2m.m2m_column_name(), m2m.m2m_reverse_name()


class RecordView:
    """Visible fields of `access.spec` for `access.actor`, optionally only `names`."""

    def __init__(self, access: Access, names: set[str] | None = None) -> None:
        self.access, self.spec = access, access.spec
        system = list(self.spec.system_field_names())
        if names is not None:
            unknown = names - set(system) - {f.name for f in self.spec.fields}
            if unknown:
                raise InvalidInput(
                    f"{self.spec.name} has no field {sorted(unknown)[0]!r}.",
                    code="unknown_field",
                    param="fields",
                )
        self.system = [n for n in system if names is None or n in names]
        self.fields: list[tuple[FieldSpec, object]] = []
        self.guards: dict[str, ExpressionWrapper] = {}
        for field in self.spec.fields:
            if names is not None and field.name not in names:
                continue
            readable = access.field_readable(field)
            if readable is False:
                if names is not None:
                    raise InvalidInput(
                        f"{self.spec.name} has no field {field.name!r}.",
                        code="unknown_field",
                        param="fields",
                    )
                continue
            self.fields.append((field, get_type(field.type)))
            if isinstance(readable, Q):
                self.guards[f"_r_{field.id}"] = ExpressionWrapper(
                    readable, output_field=BooleanField()
                )
        self.many = [f for f, t in self.fields if t.is_many(f)]
        self.columns = ["id"] + [n for n in self.system if n != "id"]
        self.columns += [f.attname for f, t in self.fields if not t.is_many(f)]

    def values(self, queryset, **extra):
        """The queryset's rows as dicts holding what `render` needs."""
        return queryset.values(*self.columns, **self.guards, **extra)

    def load_many(self, ids: list[str]) -> dict[str, dict[str, list[str]]]:
        """Multi-relation ids per record: one query per visible multi field."""
        result: dict[str, dict[str, list[str]]] = {pk: {} for pk in ids}
        if not self.many or not ids:
            return result
        model = self.access.model()
        for field in self.many:
            through, src, dst = _through(model, field)
            rows = (
                through.objects.filter(**{f"{src}__in": ids})
                .order_by("pk")
                .values_list(src, dst)
            )
            for source, target in rows:
                result[source].setdefault(field.attname, []).append(target)
        return result

    def render(self, rows: list[dict], many: dict | None = None) -> list[dict]:
        """Rows in the API shape; `many`: multi-relation ids per record, when loaded."""
        if many is None:
            many = self.load_many([r["id"] for r in rows]) if self.many else {}
        plan = self._plan
        guarded = bool(self.guards)
        out = []
        for row in rows:
            record = {}
            for name, key, kind, to_json, field, guard in plan:
                if guarded and guard is not None and not row.get(guard, True):
                    continue
                if kind == "many":
                    record[name] = many.get(row["id"], {}).get(key, [])
                elif kind == "date":
                    value = row[key]
                    record[name] = None if value is None else _rfc3339(value)
                elif kind == "plain":
                    record[name] = row[key]
                else:
                    record[name] = to_json(row.get(key), field)
            out.append(record)
        return out

    @cached_property
    def _plan(self) -> list[tuple]:
        """(output name, row key, kind, to_json, field, guard key) per visible field."""
        plan = []
        for name in self.system:
            kind = "date" if name in ("created", "updated") else "plain"
            plan.append((name, name, kind, None, None, None))
        for field, field_type in self.fields:
            guard = f"_r_{field.id}" if f"_r_{field.id}" in self.guards else None
            if field_type.is_many(field):
                plan.append((field.name, field.attname, "many", None, field, guard))
            else:
                to_json = field_type.to_json
                if type(field_type).to_json is FieldType.to_json:
                    kind = "plain"
                else:
                    kind = "value"
                plan.append((field.name, field.attname, kind, to_json, field, guard))
        return plan


def _rfc3339(value) -> str:
    """RFC 3339 in UTC with milliseconds (as format_datetime, faster on the hot path)."""
    if value.tzinfo is not None and value.utcoffset():
        return format_datetime(value)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"
