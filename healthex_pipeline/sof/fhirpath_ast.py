"""Immutable FHIRPath syntax tree produced by the parser and consumed by the SQL generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

LiteralKind = TypingLiteral["string", "integer", "decimal", "boolean", "date", "dateTime", "time"]


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value; ``text`` keeps the source form (e.g. the digits of a decimal)."""

    kind: LiteralKind
    text: str


@dataclass(frozen=True, slots=True)
class EmptyLiteral:
    """The empty collection ``{}``."""


@dataclass(frozen=True, slots=True)
class Member:
    """Navigation to a child element; ``base`` None means the current focus."""

    base: Node | None
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function invocation; ``base`` None means the function applies to the current focus."""

    base: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Indexer:
    """``base[index]`` (zero-based)."""

    base: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operator such as ``=``, ``and`` or ``|``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Unary:
    """A prefix polarity operator (``-`` or ``+``)."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class TypeOp:
    """``expr is Type`` / ``expr as Type``."""

    op: str
    operand: Node
    type_name: str


@dataclass(frozen=True, slots=True)
class Variable:
    """``$this``, ``$index`` or ``$total``."""

    name: str


@dataclass(frozen=True, slots=True)
class Constant:
    """An external constant ``%name``."""

    name: str


Node = (
    Literal | EmptyLiteral | Member | Call | Indexer | Binary | Unary | TypeOp | Variable | Constant
)
