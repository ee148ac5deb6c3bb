"""FHIRPath tokenizer and recursive-descent parser producing the tree in ``fhirpath_ast``.

Only the syntax is handled here; which functions are supported is the SQL generator's concern,
so a syntactically valid path with an unknown function still parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath_ast import (
    Binary,
    Call,
    Constant,
    EmptyLiteral,
    Indexer,
    Literal,
    Member,
    Node,
    TypeOp,
    Unary,
    Variable,
)

TokenKind = TypingLiteral[
    "ident", "string", "number", "datetime", "constant", "variable", "op", "end"
]


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token; ``delimited`` marks a backtick identifier (never a keyword)."""

    kind: TokenKind
    text: str
    pos: int
    delimited: bool = False


_WS = re.compile(r"\s+|//[^\n]*|/\*.*?\*/", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_DATETIME = re.compile(
    r"@(?:T[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"|[0-9]{4}(?:-[0-9]{2}(?:-[0-9]{2}(?:T(?:[0-9]{2}(?::[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?)"
)
_OPS = ("<=", ">=", "!=", "!~", "=", "~", "<", ">", "|", "&", "+", "-", "*", "/")
_PUNCT = (".", "(", ")", "[", "]", ",", "{", "}")
_ESCAPES = {
    "'": "'",
    '"': '"',
    "`": "`",
    "/": "/",
    "\\": "\\",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}


def _read_quoted(src: str, pos: int, quote: str) -> tuple[str, int]:
    """Read a quoted string/identifier starting at ``pos`` (the opening quote)."""
    out: list[str] = []
    i = pos + 1
    while i < len(src):
        ch = src[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            nxt = src[i + 1 : i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", src[i + 2 : i + 6]):
                out.append(chr(int(src[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt not in _ESCAPES:
                raise ViewDefinitionError(f"invalid escape at offset {i} in FHIRPath")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ViewDefinitionError(f"unterminated {quote} starting at offset {pos} in FHIRPath")


def tokenize(src: str) -> list[Token]:
    """Split a FHIRPath expression into tokens, ending with an ``end`` token."""
    tokens: list[Token] = []
    i = 0
    while i < len(src):
        ws = _WS.match(src, i)
        if ws:
            i = ws.end()
            continue
        ch = src[i]
        if ch == "'":
            text, i2 = _read_quoted(src, i, "'")
            tokens.append(Token("string", text, i))
        elif ch == "`":
            text, i2 = _read_quoted(src, i, "`")
            tokens.append(Token("ident", text, i, delimited=True))
        elif ch == "@":
            m = _DATETIME.match(src, i)
            if not m or m.end() == i + 1:
                raise ViewDefinitionError(f"invalid date/time literal at offset {i} in FHIRPath")
            i2 = m.end()
            tokens.append(Token("datetime", m.group(0)[1:], i))
        elif ch in "%$":
            kind: TokenKind = "constant" if ch == "%" else "variable"
            if ch == "%" and src[i + 1 : i + 2] in ("`", "'"):
                text, i2 = _read_quoted(src, i + 1, src[i + 1])
            else:
                m = _IDENT.match(src, i + 1)
                if not m:
                    raise ViewDefinitionError(f"expected a name after {ch!r} at offset {i}")
                text, i2 = m.group(0), m.end()
            tokens.append(Token(kind, text, i))
        elif m := _IDENT.match(src, i):
            i2 = m.end()
            tokens.append(Token("ident", m.group(0), i))
        elif m := _NUMBER.match(src, i):
            i2 = m.end()
            tokens.append(Token("number", m.group(0), i))
        else:
            sym = next((s for s in (*_OPS, *_PUNCT) if src.startswith(s, i)), None)
            if sym is None:
                raise ViewDefinitionError(f"unexpected character {ch!r} at offset {i} in FHIRPath")
            i2 = i + len(sym)
            tokens.append(Token("op", sym, i))
        i = i2
    tokens.append(Token("end", "", len(src)))
    return tokens


# Binary operator precedence levels, loosest first; each level is left-associative.
_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"implies"}),
    frozenset({"or", "xor"}),
    frozenset({"and"}),
    frozenset({"in", "contains"}),
    frozenset({"=", "~", "!=", "!~"}),
    frozenset({"<", "<=", ">", ">="}),
    frozenset({"|"}),
    frozenset({"is", "as"}),
    frozenset({"+", "-", "&"}),
    frozenset({"*", "/", "div", "mod"}),
)
_KEYWORD_OPS = frozenset(
    {"implies", "or", "xor", "and", "in", "contains", "is", "as", "div", "mod"}
)
_TYPE_LEVEL = 7


class _Parser:
    """Recursive-descent parser over a token list."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = tokenize(src)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _fail(self, what: str) -> ViewDefinitionError:
        tok = self.tok
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        return ViewDefinitionError(f"{what} at offset {tok.pos}, found {found}")

    def _accept(self, text: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == text:
            self.i += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._accept(text):
            raise self._fail(f"expected {text!r}")

    def _binary_op(self, level: int) -> str | None:
        tok = self.tok
        ops = _LEVELS[level]
        if tok.kind == "op" and tok.text in ops:
            return tok.text
        if tok.kind == "ident" and not tok.delimited and tok.text in ops:
            return tok.text
        return None

    def parse(self) -> Node:
        node = self.expression(0)
        if self.tok.kind != "end":
            raise self._fail("unexpected token")
        return node

    def expression(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.expression(level + 1)
        while (op := self._binary_op(level)) is not None:
            self.i += 1
            if level == _TYPE_LEVEL:
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.expression(level + 1))
        return left

    def type_specifier(self) -> str:
        parts = [self.identifier("a type name")]
        while self._accept("."):
            parts.append(self.identifier("a type name"))
        return ".".join(parts)

    def identifier(self, what: str) -> str:
        tok = self.tok
        if tok.kind != "ident":
            raise self._fail(f"expected {what}")
        self.i += 1
        return tok.text

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            return Unary(op, self.unary())
        return self.postfix()

    def postfix(self) -> Node:
        node = self.term()
        while True:
            if self._accept("."):
                node = self.invocation(node)
            elif self._accept("["):
                node = Indexer(node, self.expression(0))
                self._expect("]")
            else:
                return node

    def term(self) -> Node:
        tok = self.tok
        if tok.kind == "string":
            self.i += 1
            return Literal("string", tok.text)
        if tok.kind == "number":
            self.i += 1
            return Literal("decimal" if "." in tok.text else "integer", tok.text)
        if tok.kind == "datetime":
            self.i += 1
            return _datetime_literal(tok.text)
        if tok.kind == "constant":
            self.i += 1
            return Constant(tok.text)
        if tok.kind == "variable":
            self.i += 1
            return Variable(tok.text)
        if tok.kind == "ident" and not tok.delimited and tok.text in ("true", "false"):
            self.i += 1
            return Literal("boolean", tok.text)
        if tok.kind == "ident" and (tok.delimited or tok.text not in _KEYWORD_OPS):
            return self.invocation(None)
        if self._accept("("):
            node = self.expression(0)
            self._expect(")")
            return node
        if self._accept("{"):
            self._expect("}")
            return EmptyLiteral()
        raise self._fail("expected an expression")

    def invocation(self, base: Node | None) -> Node:
        name = self.identifier("a name or function")
        if not self._accept("("):
            return Member(base, name)
        args: list[Node] = []
        if not self._accept(")"):
            args.append(self.expression(0))
            while self._accept(","):
                args.append(self.expression(0))
            self._expect(")")
        return Call(base, name, tuple(args))


def _datetime_literal(text: str) -> Literal:
    """Classify an ``@`` literal body as a date, dateTime or time."""
    if text.startswith("T"):
        return Literal("time", text[1:])
    return Literal("dateTime" if "T" in text else "date", text)


def parse(src: str) -> Node:
    """Parse one FHIRPath expression; raise ViewDefinitionError on a syntax error."""
    if not src.strip():
        raise ViewDefinitionError("FHIRPath expression must be a non-empty string")
    return _Parser(src).parse()
