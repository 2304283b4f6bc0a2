"""The expression language parses to a model-free AST, bounded, with positioned errors."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.rules.ast import And, Compare, FieldPath, Literal, Macro, Or
from apps.rules.parser import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    RuleSyntaxError,
    parse,
)


def test_the_api_md_example_parses_with_precedence_and_before_or():
    expr = parse('status = "open" && (priority >= 4 || owner = @request.auth.id)')
    assert expr == And(
        (
            Compare("=", FieldPath(("status",)), Literal("open")),
            Or(
                (
                    Compare(">=", FieldPath(("priority",)), Literal(4)),
                    Compare("=", FieldPath(("owner",)), Macro("auth", ("id",))),
                )
            ),
        )
    )


def test_and_binds_tighter_than_or():
    expr = parse("a = 1 || b = 2 && c = 3")
    assert isinstance(expr, Or) and isinstance(expr.items[1], And)


@pytest.mark.parametrize(
    "text, op, any_of",
    [
        (f"a {op} 1", op.lstrip("?"), op.startswith("?"))
        for op in [
            "=",
            "!=",
            ">",
            ">=",
            "<",
            "<=",
            "~",
            "!~",
            "?=",
            "?!=",
            "?>",
            "?>=",
            "?<",
            "?<=",
            "?~",
            "?!~",
        ]
    ],
)
def test_every_operator_and_its_any_of_form(text, op, any_of):
    expr = parse(text)
    assert (expr.op, expr.any_of) == (op, any_of)


@pytest.mark.parametrize(
    "literal, value",
    [
        ('"x"', "x"),
        ("'x'", "x"),
        (r"'it\'s'", "it's"),
        (r'"a\nb"', "a\nb"),
        ("12", 12),
        ("-3.5", -3.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_literals(literal, value):
    assert parse(f"a = {literal}").right == Literal(value)


@pytest.mark.parametrize(
    "macro, node",
    [
        ("@request.auth.id", Macro("auth", ("id",))),
        ("@request.auth.team.name", Macro("auth", ("team", "name"))),
        ("@request.body.owner", Macro("body", ("owner",))),
        ("@request.method", Macro("method")),
        ("@now", Macro("now")),
    ],
)
def test_macros(macro, node):
    assert parse(f"created < {macro}").right == node


def test_dotted_relation_paths():
    assert parse("owner.team.name = 'x'").left == FieldPath(("owner", "team", "name"))


@pytest.mark.parametrize(
    "text, position",
    [
        ("status =", 8),
        ("a = = b", 4),
        ("(a = 1", 6),
        ("a = 1)", 5),
        ("a = 1 &&", 8),
        ("@foo = 1", 0),
        ("a = 'x\\q'", 6),
        ("a = 1e999", 4),
        ("a = 99999999999999999999", 4),
        ("a # 1", 2),
        ("a = 'unterminated", 4),
    ],
)
def test_errors_name_the_position(text, position):
    with pytest.raises(RuleSyntaxError) as info:
        parse(text)
    assert info.value.position == position
    assert f"position {position}" in str(info.value)


def test_length_depth_and_count_are_capped():
    with pytest.raises(RuleSyntaxError, match="Longer than"):
        parse("a = '" + "x" * MAX_LENGTH + "'")
    with pytest.raises(RuleSyntaxError, match="Nested deeper"):
        parse("(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1))
    assert parse("(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH)
    with pytest.raises(RuleSyntaxError, match="comparisons"):
        parse(" && ".join(["a = 1"] * (MAX_COMPARISONS + 1)))


def test_parentheses_inside_strings_do_not_count_as_nesting():
    assert parse("a = '" + "(" * 50 + "'").right == Literal("(" * 50)


def test_empty_expression_is_an_error():
    with pytest.raises(RuleSyntaxError):
        parse("   ")


def test_parsing_is_cached_by_text():
    assert parse("x = 1") is parse("x = 1")


TOKENS = st.sampled_from(
    [
        "a",
        "b.c",
        "@request.auth.id",
        "@now",
        "@x",
        "'s'",
        '"t"',
        "'",
        '"',
        "1",
        "-2.5",
        "true",
        "null",
        "=",
        "!=",
        "?=",
        "~",
        "!~",
        ">=",
        "&&",
        "||",
        "(",
        ")",
        "\\",
        "#",
        " ",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TOKENS, max_size=30).map(" ".join))
def test_fuzz_token_soup_parses_or_fails_cleanly(text):
    try:
        parse(text)
    except RuleSyntaxError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text_parses_or_fails_cleanly(text):
    try:
        parse(text)
    except RuleSyntaxError:
        pass
