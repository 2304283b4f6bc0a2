"""Who may do what to records: collection rules and field rules, for one actor.

Superusers and API keys holding the needed scope pass every rule and see every field.
Everyone else is governed by the collection's rules (`null`: nobody, `""`: everyone, or an
expression) and by field access (`hidden` fields are theirs only; a field's own `read` and
`write` rules restrict it further).
"""

from __future__ import annotations

from functools import cached_property

from django.db.models import Q

from apps.accounts.apikeys import KeyPrincipal
from apps.accounts.permissions import has_scope, is_superuser
from apps.collections.spec import CollectionSpec, FieldSpec
from apps.core.exceptions import Forbidden, Unauthenticated
from apps.rules.compiler import RuleContext, compile_text, evaluate
from apps.rules.parser import parse
from apps.rules.values import MISSING

READ_ACTIONS = frozenset({"list", "view"})
MAX_DEPTH = 4  # relation hops (and view rules of related collections) in one check


def scope_for(action: str) -> str:
    return "records:read" if action in READ_ACTIONS else "records:write"


class Access:
    """One actor's access to one collection's records, for one request."""

    def __init__(
        self,
        actor,
        spec: CollectionSpec,
        *,
        body=None,
        method: str = "GET",
        root: "Access | None" = None,
        depth: int = 0,
    ) -> None:
        self.actor, self.spec, self.depth = actor, spec, depth
        self.root_spec = root.root_spec if root else spec
        self._root = root._root if root else self
        #: set when a check reached into another collection (relation paths)
        self.used_related = False
        self.privileged = is_superuser(actor) and getattr(actor, "is_active", False)
        self.privileged |= isinstance(actor, KeyPrincipal)
        self.user = (
            actor
            if getattr(actor, "is_authenticated", False)
            and not isinstance(actor, KeyPrincipal)
            else None
        )
        if root is not None:
            self.ctx, self._auth_row = root.ctx, root._auth_row
        else:
            self._auth_row: dict = {}
            self.ctx = RuleContext(
                auth=self._auth_value if self.user is not None else None,
                body=body,
                method=method,
            )

    # --- actions --------------------------------------------------------------------
    def require(self, action: str) -> None:
        """401/403 when the actor may never do `action` here (a `null` rule)."""
        if isinstance(self.actor, KeyPrincipal):
            if not has_scope(self.actor, scope_for(action)):
                raise Forbidden(
                    f"This API key lacks the {scope_for(action)} scope.",
                    code="forbidden",
                )
            return
        if self.privileged or self.spec.rules.get(action) is not None:
            return
        if self.user is None:
            raise Unauthenticated("Authentication required.")
        raise Forbidden(
            f"You may not {action} records of {self.spec.name!r}.", code="forbidden"
        )

    def rule(self, action: str) -> Q | bool:
        """The rows the actor may `action`, as a condition (True: all, False: none)."""
        if self.privileged:
            return True
        if self.depth > MAX_DEPTH:
            return False
        return self._compile(self.spec.rules.get(action))

    def _compile(self, text: str | None) -> Q | bool:
        from apps.collections.rule_fields import RecordResolver

        return compile_text(text, RecordResolver(self, client=False), self.ctx)

    def test(self, text: str | None, row: dict) -> bool:
        """A rule tested in memory against a stored row (attname -> value)."""
        from apps.collections.rule_fields import RecordResolver

        if text is None:
            return False
        if text == "":
            return True
        return evaluate(parse(text), RecordResolver(self, client=False), self.ctx, row)

    def filter(self, text: str) -> Q | bool:
        """A client's `filter`: only fields the caller may read can be named."""
        from apps.collections.rule_fields import RecordResolver
        from apps.rules.compiler import compile_q

        return compile_q(parse(text), RecordResolver(self, client=True), self.ctx)

    # --- fields ---------------------------------------------------------------------
    def field_readable(self, field: FieldSpec) -> Q | bool:
        """Where the actor may read `field` (True everywhere, False nowhere, or a Q)."""
        if self.privileged:
            return True
        if field.hidden:
            return False
        return self._field_rule(field, "read")

    def field_writable(self, field: FieldSpec) -> Q | bool:
        if self.privileged:
            return True
        if field.hidden:
            return False
        return self._field_rule(field, "write")

    def _field_rule(self, field: FieldSpec, kind: str) -> Q | bool:
        text = (field.rules or {}).get(kind)
        return True if text is None else self._compile(text)

    def field_readable_row(self, field: FieldSpec, row: dict) -> bool:
        if self.privileged:
            return True
        if field.hidden:
            return False
        text = (field.rules or {}).get("read")
        return True if text is None else self.test(text, row)

    # --- relations and models -----------------------------------------------------
    def related(self, collection_id: str) -> "Access":
        """The same actor and request, for a related collection."""
        from apps.collections.services import get_spec_by_id

        self._root.used_related = True
        return Access(
            self.actor, get_spec_by_id(collection_id), root=self, depth=self.depth + 1
        )

    def model(self):
        from apps.collections.dynamic import cache

        return cache.model_for(self.spec)

    # --- @request.auth ------------------------------------------------------------
    @cached_property
    def _users_spec(self) -> CollectionSpec:
        from apps.collections.services import get_spec_by_id

        return get_spec_by_id("users")

    def auth_field_known(self, name: str) -> bool:
        if name in ("id", "email", "created", "updated"):
            return True
        return self._users_spec.field_by_name(name) is not None

    def _auth_value(self, path: tuple[str, ...]):
        if len(path) != 1:
            return MISSING
        name = path[0]
        if name in ("id", "email", "created", "updated"):
            return getattr(self.user, name, MISSING)
        if name not in self._auth_row:
            self._auth_row.update(self._load_auth_row())
        return self._auth_row.get(name, MISSING)

    def _load_auth_row(self) -> dict:
        """The caller's own record in `users`, by field name, as stored (one query)."""
        from apps.collections.dynamic import cache
        from apps.collections.field_types import get_type

        spec = self._users_spec
        model = cache.model_for(spec)
        scalar = [f for f in spec.fields if not get_type(f.type).is_many(f)]
        row = (
            model.objects.filter(pk=self.user.pk)
            .values(*[f.attname for f in scalar])
            .first()
        )
        values = {f.name: (row or {}).get(f.attname) for f in scalar}
        for field in spec.fields:
            if get_type(field.type).is_many(field):
                through = model._meta.get_field(field.attname).remote_field.through
                m2m = model._meta.get_field(field.attname)
                values[field.name] = list(
                    through.objects.filter(**{m2m.m2m_column_name(): self.user.pk})
                    .order_by("pk")
                    .values_list(m2m.m2m_reverse_name(), flat=True)
                )
        return values


def validate_rules(spec: CollectionSpec) -> None:
    """Compile-check every rule of `spec` (as saved); a bad one is a 400 naming it."""
    from apps.collections.rule_fields import RecordResolver
    from apps.core.exceptions import InvalidInput
    from apps.rules.compiler import check
    from apps.rules.parser import RuleSyntaxError

    checks = [(f"rules.{action}", text) for action, text in spec.rules.items()]
    for index, field in enumerate(spec.fields):
        for kind, text in (field.rules or {}).items():
            checks.append((f"fields.{index}.rules.{kind}", text))
    resolver = RecordResolver(Access(None, spec), client=False)
    for param, text in checks:
        if not text:
            continue
        try:
            check(parse(text), resolver)
        except RuleSyntaxError as exc:
            raise InvalidInput(
                f"Invalid expression: {exc}", code="invalid_rule", param=param
            ) from None
