"""Parse expressions once (cached by text) into apps.rules.ast, with bounded size.

Grammar (PocketBase-like): `a = 1 && (b ~ "x" || owner = @request.auth.id)`; operators
`= != > >= < <= ~ !~`, each also as an any-of form `?=`, `?!=`...; literals are strings in
single or double quotes, numbers, `true`, `false`, `null`.
"""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

from apps.rules.ast import And, Compare, Expr, FieldPath, Literal, Macro, Or

MAX_LENGTH = 4096
MAX_DEPTH = 16
MAX_COMPARISONS = 64

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr ("||" and_expr)*
?and_expr: atom ("&&" atom)*
?atom: "(" or_expr ")"
     | comparison
comparison: operand OP operand
?operand: STRING -> string
        | NUMBER -> number
        | "true" -> true
        | "false" -> false
        | "null" -> null
        | MACRO -> macro
        | PATH -> path
OP: "?!~" | "?!=" | "?>=" | "?<=" | "?=" | "?>" | "?<" | "?~"
  | "!~" | "!=" | ">=" | "<=" | "=" | ">" | "<" | "~"
MACRO: "@" NAME ("." NAME)*
PATH: NAME ("." NAME)*
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
NUMBER: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/
%ignore /[ \t\r\n]+/
"""

KEYWORDS = {"true", "false", "null"}
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


class RuleSyntaxError(ValueError):
    """An expression that cannot be parsed; `position` is a 0-based character offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}.")
        self.message = message
        self.position = position


def _unquote(token: Token, text: str) -> str:
    out, chars, i = [], text[1:-1], 0
    while i < len(chars):
        char = chars[i]
        if char == "\\":
            escaped = chars[i + 1]
            if escaped not in ESCAPES:
                raise RuleSyntaxError(
                    f"Unknown escape \\{escaped}", token.start_pos + i + 1
                )
            out.append(ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _macro(token: Token) -> Macro:
    parts = str(token)[1:].split(".")
    pos = token.start_pos
    if parts == ["now"]:
        return Macro("now", pos=pos)
    if parts == ["request", "method"]:
        return Macro("method", pos=pos)
    if len(parts) >= 3 and parts[0] == "request" and parts[1] in ("auth", "body"):
        return Macro(parts[1], tuple(parts[2:]), pos=pos)
    if parts == ["channel", "name"]:  # realtime channel rules only (apps.realtime)
        return Macro("channel", ("name",), pos=pos)
    if parts == ["topic", "name"]:  # push topic rules only (apps.push)
        return Macro("topic", ("name",), pos=pos)
    raise RuleSyntaxError(
        f"Unknown macro {token}; use @request.auth.<field>, @request.body.<field>, "
        "@request.method or @now",
        token.start_pos,
    )


@v_args(inline=True)
class _ToAst(Transformer):
    def string(self, token):
        return Literal(_unquote(token, str(token)))

    def number(self, token):
        text = str(token)
        if any(c in text for c in ".eE"):
            value = float(text)
            if value in (float("inf"), float("-inf")):
                raise RuleSyntaxError("Number out of range", token.start_pos)
            return Literal(value)
        value = int(text)
        if abs(value) > 2**53:
            raise RuleSyntaxError("Number out of range", token.start_pos)
        return Literal(value)

    def true(self):
        return Literal(True)

    def false(self):
        return Literal(False)

    def null(self):
        return Literal(None)

    def macro(self, token):
        return _macro(token)

    def path(self, token):
        parts = tuple(str(token).split("."))
        if parts[0] in KEYWORDS:
            raise RuleSyntaxError(f"{parts[0]} is not a field", token.start_pos)
        return FieldPath(parts, pos=token.start_pos)

    def comparison(self, left, op, right):
        text = str(op)
        any_of = text.startswith("?")
        return Compare(text[1:] if any_of else text, left, right, any_of)

    def and_expr(self, *items):
        return And(tuple(items))

    def or_expr(self, *items):
        return Or(tuple(items))


_parser = Lark(GRAMMAR, parser="lalr", maybe_placeholders=False)


def _check_nesting(text: str) -> None:
    """Bound parenthesis depth before parsing (quotes skipped)."""
    depth, quote, escaped = 0, None, False
    for position, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleSyntaxError(
                    f"Nested deeper than {MAX_DEPTH} levels", position
                )
        elif char == ")":
            depth -= 1


def _count_comparisons(expr: Expr) -> int:
    if isinstance(expr, Compare):
        return 1
    return sum(_count_comparisons(item) for item in expr.items)


@functools.lru_cache(maxsize=2048)
def parse(text: str) -> Expr:
    """Parse an expression; raises RuleSyntaxError with the position of the problem."""
    if not isinstance(text, str):
        raise RuleSyntaxError("An expression must be a string")
    if len(text) > MAX_LENGTH:
        raise RuleSyntaxError(f"Longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise RuleSyntaxError("Empty expression")
    if "\x00" in text:  # no database takes NUL in a text value
        raise RuleSyntaxError("NUL characters are not allowed", text.index("\x00"))
    _check_nesting(text)
    try:
        expr = _ToAst().transform(_parser.parse(text))
    except RuleSyntaxError:
        raise
    except UnexpectedCharacters as exc:
        raise RuleSyntaxError(
            f"Unexpected character {text[exc.pos_in_stream]!r}", exc.pos_in_stream
        ) from None
    except UnexpectedInput as exc:
        position = getattr(exc, "pos_in_stream", None)
        token = getattr(exc, "token", None)
        if token is not None and getattr(token, "type", None) == "$END":
            raise RuleSyntaxError("Unexpected end of expression", len(text)) from None
        value = getattr(token, "value", None)
        what = f"Unexpected {value!r}" if value else "Unexpected input"
        raise RuleSyntaxError(what, position) from None
    except LarkError as exc:
        cause = exc.__context__
        if isinstance(cause, RuleSyntaxError):
            raise cause from None
        raise RuleSyntaxError("Invalid expression") from None
    if _count_comparisons(expr) > MAX_COMPARISONS:
        raise RuleSyntaxError(f"More than {MAX_COMPARISONS} comparisons")
    return expr
