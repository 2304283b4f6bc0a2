"""apps.rules.explain: the "why" of a rule for one row agrees with the real check
(`evaluate`) at every node, and shows each comparison's values."""

from __future__ import annotations

import pytest

from apps.collections.access import Access
from apps.collections.rule_fields import RecordResolver
from apps.collections.services import collection_create, get_spec
from apps.records.records import record_create, stored_row
from apps.rules.ast import And, Or
from apps.rules.compiler import evaluate
from apps.rules.explain import Explanation, explain, explain_text
from apps.rules.parser import parse
from tests.conftest import shared_world


class World:
    def __init__(self) -> None:
        from apps.accounts.models import User

        self.superuser = User.objects.create_superuser(
            email="root@example.com", password="RootPass123!"
        )
        self.alice = User.objects.create_user(
            email="alice@example.com", password="UserPass123!"
        )
        self.bob = User.objects.create_user(
            email="bob@example.com", password="UserPass123!"
        )
        users = {"collection": "users"}
        collection_create(
            actor=self.superuser,
            data={
                "name": "cats",
                "fields": [
                    {"name": "name", "type": "text"},
                    {"name": "public", "type": "bool"},
                ],
                "rules": {"view": "public = true"},
            },
        )
        public_cat, private_cat = (
            record_create(actor=self.superuser, collection="cats", data=data)["id"]
            for data in ({"name": "p", "public": True}, {"name": "q", "public": False})
        )
        collection_create(
            actor=self.superuser,
            data={
                "name": "things",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "n", "type": "number"},
                    {"name": "flag", "type": "bool"},
                    {
                        "name": "tags",
                        "type": "select",
                        "options": {"values": ["a", "b"], "multiple": True},
                    },
                    {"name": "owner", "type": "relation", "options": users},
                    {
                        "name": "cat",
                        "type": "relation",
                        "options": {"collection": "cats"},
                    },
                ],
            },
        )
        self.rows = {}
        for key, data in {
            "alice_open": {
                "title": "open",
                "n": 5,
                "flag": True,
                "tags": ["a"],
                "owner": self.alice.pk,
                "cat": public_cat,
            },
            "bob_closed": {
                "title": "closed",
                "n": 1,
                "owner": self.bob.pk,
                "cat": private_cat,
            },
            "empty": {},
        }.items():
            pk = record_create(actor=self.superuser, collection="things", data=data)[
                "id"
            ]
            self.rows[key] = pk

    def check(self, actor, text: str, key: str) -> tuple[Explanation, bool]:
        """(explanation, the real in-memory check) of `text` for one row and actor."""
        spec = get_spec("things")
        access = Access(actor, spec)
        row = stored_row(access.model(), spec, self.rows[key])
        resolver = RecordResolver(access, client=False)
        tree = explain_text(text, resolver, access.ctx, row)
        return tree, access.test(text, row)


world, transactional_db = shared_world(World)
pytestmark = pytest.mark.usefixtures("transactional_db")


def test_owner_rule_passes_for_the_owner_and_shows_both_values(world):
    tree, real = world.check(world.alice, "owner = @request.auth.id", "alice_open")
    assert tree.kind == "compare" and tree.result is True and real is True
    assert tree.op == "="
    assert (tree.left.text, tree.left.kind, tree.left.value) == (
        "owner",
        "field",
        world.alice.pk,
    )
    assert (tree.right.text, tree.right.kind, tree.right.value) == (
        "@request.auth.id",
        "macro",
        world.alice.pk,
    )


def test_owner_rule_fails_for_another_user_with_the_failing_values(world):
    tree, real = world.check(world.bob, "owner = @request.auth.id", "alice_open")
    assert tree.result is False and real is False
    assert tree.left.value == world.alice.pk and tree.right.value == world.bob.pk


def test_a_guests_auth_macro_is_missing(world):
    tree, real = world.check(None, "owner = @request.auth.id", "alice_open")
    assert tree.result is False and real is False
    assert tree.right.missing is True and tree.right.value is None


def test_and_or_tree_shows_how_the_parts_combined(world):
    text = 'title = "open" && (n > 3 || owner = @request.auth.id)'
    tree, real = world.check(world.bob, text, "alice_open")
    assert tree.kind == "and" and tree.result is True and real is True
    first, either = tree.children
    assert first.kind == "compare" and first.result is True
    assert first.left.value == "open" and first.right.text == '"open"'
    assert either.kind == "or" and either.result is True
    n_part, owner_part = either.children
    assert (n_part.result, n_part.left.value, n_part.right.value) == (True, 5.0, 3)
    assert owner_part.result is False  # shown even though || was already decided


def test_field_on_the_right_is_shown_as_written(world):
    tree, real = world.check(world.bob, "3 < n", "alice_open")
    assert tree.result is True and real is True
    assert (tree.left.kind, tree.op, tree.right.text) == ("literal", "<", "n")


def test_relation_path_is_marked_related_and_agrees(world):
    for key, expected in (("alice_open", True), ("bob_closed", False)):
        tree, real = world.check(world.bob, "cat.name != null", key)
        assert tree.result is expected and real is expected
        assert tree.left.related is True


def test_null_rule_is_locked_and_empty_rule_is_public(world):
    locked, real_locked = world.check(world.alice, None, "alice_open")
    public, real_public = world.check(None, "", "alice_open")
    assert (locked.kind, locked.result, real_locked) == ("locked", False, False)
    assert (public.kind, public.result, real_public) == ("public", True, True)


EXPRESSIONS = [
    "owner = @request.auth.id",
    "owner != @request.auth.id",
    'title ~ "pe" || n >= 5',
    "flag = true && n > 0",
    "flag = false",
    'tags ?= "a"',
    'tags = "b"',
    "tags = null",
    "n < 2 || (title = null && owner = null)",
    "(n > 0 && flag = true) || (n <= 1 && owner = @request.auth.id)",
    "cat.public = true",
    "cat.public = true && owner.email ~ 'bob'",
    "@request.auth.id != '' && created <= @now",
    "@request.auth.email = 'alice@example.com'",
]


def _nodes(expr, tree: Explanation):
    yield expr, tree
    if isinstance(expr, (And, Or)):
        for item, child in zip(expr.items, tree.children, strict=True):
            yield from _nodes(item, child)


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_every_node_agrees_with_evaluate(world, text):
    for actor in (None, world.alice, world.bob):
        for key in world.rows:
            spec = get_spec("things")
            access = Access(actor, spec)
            row = stored_row(access.model(), spec, world.rows[key])
            resolver = RecordResolver(access, client=False)
            expr = parse(text)
            tree = explain(expr, resolver, access.ctx, row)
            assert tree.result == evaluate(expr, resolver, access.ctx, row)
            for node, part in _nodes(expr, tree):
                assert part.result == evaluate(node, resolver, access.ctx, row), (
                    text,
                    key,
                )
