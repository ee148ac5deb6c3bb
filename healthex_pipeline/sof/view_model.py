"""Validate a ViewDefinition (plain JSON) into a typed, immutable model.

All structural checks live here so the SQL generator can assume a well-formed view; every
error message names the JSON location (e.g. ``select[0].column[2].name``) of the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath import parse
from healthex_pipeline.sof.fhirpath_ast import Node

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_SELECT_KEYS = frozenset(
    {"column", "select", "unionAll", "forEach", "forEachOrNull", "repeat", "extension", "id"}
)
_COLUMN_KEYS = frozenset(
    {"name", "path", "type", "collection", "description", "tag", "extension", "id"}
)


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: its FHIRPath, declared FHIR type (None = infer) and cardinality."""

    name: str
    path: Node
    fhir_type: str | None
    collection: bool
    location: str


@dataclass(frozen=True, slots=True)
class Select:
    """A select node; at most one of for_each / repeat is set."""

    columns: tuple[Column, ...]
    selects: tuple[Select, ...]
    union_all: tuple[Select, ...]
    for_each: Node | None
    or_null: bool
    repeat: tuple[Node, ...]
    location: str

    def output_columns(self) -> tuple[Column, ...]:
        """Columns this node emits, in the spec's order: column, select, then unionAll."""
        out = list(self.columns)
        for child in self.selects:
            out.extend(child.output_columns())
        if self.union_all:
            out.extend(self.union_all[0].output_columns())
        return tuple(out)


@dataclass(frozen=True, slots=True)
class ConstantValue:
    """A ``constant`` entry: its FHIR type (from ``value[x]``) and JSON value."""

    fhir_type: str
    value: Any


@dataclass(frozen=True, slots=True)
class View:
    """A validated ViewDefinition."""

    resource: str
    fhir_versions: tuple[str, ...]
    constants: Mapping[str, ConstantValue]
    root: Select
    where: tuple[tuple[Node, str], ...]


def _mapping(value: Any, location: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ViewDefinitionError(f"{location} must be an object")
    return value


def _list(value: Any, location: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ViewDefinitionError(f"{location} must be an array")
    return value


def _path(value: Any, location: str) -> Node:
    if not isinstance(value, str):
        raise ViewDefinitionError(f"{location} must be a FHIRPath string")
    try:
        return parse(value)
    except ViewDefinitionError as exc:
        raise ViewDefinitionError(f"{location}: {exc}") from exc


def _column(raw: Any, location: str) -> Column:
    col = _mapping(raw, location)
    unknown = set(col) - _COLUMN_KEYS
    if unknown:
        raise ViewDefinitionError(f"{location} has unknown keys {sorted(unknown)}")
    name = col.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ViewDefinitionError(f"{location}.name must match [A-Za-z][A-Za-z0-9_]*")
    fhir_type = col.get("type")
    if fhir_type is not None and (not isinstance(fhir_type, str) or not fhir_type):
        raise ViewDefinitionError(f"{location}.type must be a FHIR type code")
    collection = col.get("collection", False)
    if not isinstance(collection, bool):
        raise ViewDefinitionError(f"{location}.collection must be a boolean")
    return Column(name, _path(col.get("path"), f"{location}.path"), fhir_type, collection, location)


def _select(raw: Any, location: str) -> Select:
    sel = _mapping(raw, location)
    unknown = set(sel) - _SELECT_KEYS
    if unknown:
        raise ViewDefinitionError(f"{location} has unknown keys {sorted(unknown)}")
    iterators = [key for key in ("forEach", "forEachOrNull", "repeat") if key in sel]
    if len(iterators) > 1:
        raise ViewDefinitionError(f"{location} may use only one of {iterators}")
    columns = tuple(
        _column(c, f"{location}.column[{i}]")
        for i, c in enumerate(_list(sel.get("column", []), f"{location}.column"))
    )
    selects = tuple(
        _select(s, f"{location}.select[{i}]")
        for i, s in enumerate(_list(sel.get("select", []), f"{location}.select"))
    )
    union_all = tuple(
        _select(s, f"{location}.unionAll[{i}]")
        for i, s in enumerate(_list(sel.get("unionAll", []), f"{location}.unionAll"))
    )
    if not (columns or selects or union_all):
        raise ViewDefinitionError(f"{location} needs a column, select or unionAll")
    for_each_key = next((k for k in ("forEach", "forEachOrNull") if k in sel), None)
    for_each = _path(sel[for_each_key], f"{location}.{for_each_key}") if for_each_key else None
    repeat: tuple[Node, ...] = ()
    if "repeat" in sel:
        raw_repeat = _list(sel["repeat"], f"{location}.repeat")
        if not raw_repeat:
            raise ViewDefinitionError(f"{location}.repeat must list at least one path")
        repeat = tuple(_path(p, f"{location}.repeat[{i}]") for i, p in enumerate(raw_repeat))
    node = Select(
        columns, selects, union_all, for_each, for_each_key == "forEachOrNull", repeat, location
    )
    _check_union(node)
    return node


def _signature(columns: Sequence[Column]) -> list[tuple[str, bool]]:
    return [(c.name, c.collection) for c in columns]


def _check_union(node: Select) -> None:
    """All unionAll branches must emit the same column names, order and cardinality."""
    if not node.union_all:
        return
    first = _signature(node.union_all[0].output_columns())
    for branch in node.union_all[1:]:
        if _signature(branch.output_columns()) != first:
            raise ViewDefinitionError(
                f"{branch.location} columns {[n for n, _ in _signature(branch.output_columns())]}"
                f" differ from {node.union_all[0].location} columns {[n for n, _ in first]}"
            )


def _constants(raw: Any) -> dict[str, ConstantValue]:
    out: dict[str, ConstantValue] = {}
    for i, item in enumerate(_list(raw, "constant")):
        const = _mapping(item, f"constant[{i}]")
        name = const.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ViewDefinitionError(f"constant[{i}].name must match [A-Za-z][A-Za-z0-9_]*")
        values = [k for k in const if k.startswith("value") and len(k) > len("value")]
        if len(values) != 1:
            raise ViewDefinitionError(f"constant[{i}] ({name}) needs exactly one value[x]")
        key = values[0]
        fhir_type = key[len("value")].lower() + key[len("value") + 1 :]
        out[name] = ConstantValue(fhir_type, const[key])
    return out


def _fhir_versions(raw: Any) -> tuple[str, ...]:
    versions = _list(raw, "fhirVersion")
    if not all(isinstance(v, str) for v in versions):
        raise ViewDefinitionError("fhirVersion must be an array of version codes")
    return tuple(versions)


def load_view(raw: Mapping[str, Any]) -> View:
    """Validate a ViewDefinition and return its model."""
    view = _mapping(raw, "view")
    resource = view.get("resource")
    if not isinstance(resource, str) or not _NAME.fullmatch(resource):
        raise ViewDefinitionError("view.resource must name a FHIR resource type")
    selects = _list(view.get("select"), "select") if "select" in view else []
    if not selects:
        raise ViewDefinitionError("view.select must contain at least one select")
    root = Select(
        (),
        tuple(_select(s, f"select[{i}]") for i, s in enumerate(selects)),
        (),
        None,
        False,
        (),
        "select",
    )
    names = [c.name.lower() for c in root.output_columns()]  # DuckDB names ignore case
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ViewDefinitionError(f"duplicate column names {duplicates}")
    where = tuple(
        (_path(_mapping(w, f"where[{i}]").get("path"), f"where[{i}].path"), f"where[{i}].path")
        for i, w in enumerate(_list(view.get("where", []), "where"))
    )
    return View(
        resource,
        _fhir_versions(view.get("fhirVersion", [])),
        _constants(view.get("constant", [])),
        root,
        where,
    )
