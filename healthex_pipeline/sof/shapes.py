"""Typed reads: the part of the input's JSON structure a view reads, as DuckDB STRUCT columns.

Navigating JSON text re-parses it at every step; navigating a STRUCT read once is free. Which
elements are objects, arrays or strings is taken from a sample of the input (DuckDB's
``json_group_structure``), not from FHIR definitions, so the same code serves R4, DSTU2 and
whatever a vendor sends. Only the elements the view navigates are read:

- objects and arrays of objects become STRUCT / STRUCT[];
- elements the sample shows as primitives (strings, numbers, booleans) become VARCHAR ("text"
  leaves), which the view's output columns, string comparisons and joins use as they are;
- everything else (arrays of primitives, shapes that vary in the sample, elements the sample
  lacks) stays ``JSON`` for the generic JSON code.

The sample can be wrong about a later record. Where a STRUCT was declared, DuckDB's reader then
fails ("expected OBJECT") rather than guess. Where VARCHAR was declared, DuckDB turns any
value into text silently, so the compiled SQL checks every text value it outputs or compares for
what the JSON path would treat differently (``sof_text_checked`` and its kin in macros.py: an
object or array read as its JSON text, a number DuckDB writes in exponent form, a bare number
where a date column reads the text, which rejects year-only dates there); a failed check,
like a failed read, makes the caller rerun the view on the generic JSON path. A typed run thus
returns the generic result or none at all.

An operation the typed SQL does not implement asks for JSON items and raises ``Untyped`` with the
element's path; the compiler then reads that element as JSON and compiles again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from healthex_pipeline.sof.sql_text import quote_identifier

RESOURCE_TYPE = "resourceType"
Path = tuple[str, ...]


class Untyped(Exception):
    """A typed element met an operation that needs its values as JSON.

    ``path`` is the element to read as JSON instead (``()``: the resource; give up typing).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(".".join(path))
        self.path = path


@dataclass(frozen=True, slots=True)
class Shape:
    """Items that are STRUCTs read at ``path`` (``()`` is the resource itself)."""

    path: Path


@dataclass(frozen=True, slots=True)
class Member:
    """How one member of a typed object is read."""

    many: bool  # a list (of STRUCTs)
    shape: Shape | None  # STRUCT items, or None
    text: bool  # a VARCHAR value (when shape is None); else JSON


_JSON = Member(False, None, False)
# json_group_structure's names for primitive values.
_PRIMITIVES = frozenset({"VARCHAR", "DOUBLE", "UBIGINT", "BIGINT", "BOOLEAN"})


@dataclass
class TypedSource:
    """The sampled structure of the input, and the members of it the view has navigated."""

    structure: Mapping[str, Any]
    untyped: frozenset[Path] = frozenset()
    # The relation alias whose columns are the resource's top-level elements.
    alias: str = "_sof_src"
    # Row-level conditions the typed reading relies on (checked for every row of the view).
    assumptions: list[str] = field(default_factory=list)
    _structs: dict[Path, dict[str, None]] = field(default_factory=dict)
    _text: dict[Path, None] = field(default_factory=dict)

    def assume(self, condition: str) -> None:
        """Record a condition that must hold for the typed result to equal the generic one."""
        if condition not in self.assumptions:
            self.assumptions.append(condition)

    def member(self, shape: Shape, name: str) -> Member:
        """Record that ``name`` is read from items of ``shape``, and say how it is stored."""
        self._structs.setdefault(shape.path, {})[name] = None
        path = (*shape.path, name)
        if path in self.untyped:
            return _JSON
        child = self._node(shape.path).get(name)
        if isinstance(child, list) and len(child) == 1:
            many, child = True, child[0]
        else:
            many = False
        if isinstance(child, dict) and child:
            self._structs.setdefault(path, {})
            return Member(many, Shape(path), False)
        if isinstance(child, str) and child in _PRIMITIVES and not many:
            self._text[path] = None
            return Member(False, None, True)
        return _JSON

    def _node(self, path: Path) -> Mapping[str, Any]:
        node: Any = self.structure
        for name in path:
            node = node[name]
            if isinstance(node, list):
                node = node[0]
        return node

    def _is_list(self, path: Path) -> bool:
        return isinstance(self._node(path[:-1]).get(path[-1]), list)

    def _type(self, path: Path) -> str:
        """DuckDB type of the element at ``path`` as read."""
        if path in self._text:
            return "VARCHAR"
        if path not in self._structs:
            return "JSON"
        names = list(self._structs[path]) or [next(iter(self._node(path)))]
        fields = ", ".join(f"{quote_identifier(n)} {self._type((*path, n))}" for n in names)
        return f"STRUCT({fields})" + ("[]" if self._is_list(path) else "")

    def read_columns(self) -> dict[str, str]:
        """The reader's explicit schema: ``resourceType`` and each top-level element used."""
        columns = {RESOURCE_TYPE: "VARCHAR"}
        for name in self._structs.get((), {}):
            if name != RESOURCE_TYPE:
                columns[name] = self._type((name,))
        return columns
