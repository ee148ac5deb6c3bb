"""Compile a SQL-on-FHIR v2 ViewDefinition into one set-based DuckDB SELECT.

Shape of the generated SQL: each select node becomes an expression producing, for one context
element, a ``LIST(STRUCT)`` of rows (forEach = ``list_transform`` over the focus, nested select
= cross product, unionAll = ``list_concat``). The view's rows for a resource are ``unnest``-ed
once, and an outer projection casts each JSON value to the column type and collects the names of
columns whose value did not cast into ``_cast_errors``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthex_pipeline.sof.column_types import ColumnType, column_type
from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath_ast import Constant, Node
from healthex_pipeline.sof.path_sql import Expr, Scope, json_literal, sql_string, translate
from healthex_pipeline.sof.view_model import Column, ConstantValue, Select, View, load_view

CAST_ERRORS_COLUMN = "_cast_errors"
# The type reported for passthrough columns: whatever the source relation holds.
PASSTHROUGH_TYPE = "ANY"
REPEAT_DEPTH = 16
_RESOURCE = "_sof_src.resource"
_ROW = "_sof_row"


@dataclass(frozen=True, slots=True)
class CompiledView:
    """A compiled ViewDefinition: SQL over the source relation and its output columns."""

    sql: str
    columns: list[tuple[str, str]]
    resource: str
    fhir_versions: tuple[str, ...]


def quote_identifier(name: str) -> str:
    """Quote ``name`` as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _constant_expr(name: str, constant: ConstantValue) -> Expr:
    if not isinstance(constant.value, str | int | float | bool):
        raise ViewDefinitionError(f"constant {name} must have a primitive value")
    return Expr(f"[{json_literal(constant.value)}]", fhir_type=constant.fhir_type)


@dataclass
class _Compiler:
    """Per-view compilation state: constants, fresh names and the first typing of each column."""

    view: View
    names: Iterator[int] = field(default_factory=itertools.count)
    types: dict[str, ColumnType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.constants: Mapping[str, Expr] = {
            name: _constant_expr(name, value) for name, value in self.view.constants.items()
        }

    def scope(self, element: str, row_index: str) -> Scope:
        return Scope(
            this=f"[{element}]",
            resource=_RESOURCE,
            resource_type=self.view.resource,
            row_index=row_index,
            constants=self.constants,
            names=self.names,
        )

    def fresh(self) -> str:
        return f"_v{next(self.names)}"

    def path(self, node: Node, scope: Scope, location: str) -> Expr:
        try:
            return translate(node, scope)
        except ViewDefinitionError as exc:
            raise ViewDefinitionError(f"{location}: {exc}") from exc

    # -- rows ---------------------------------------------------------------------------------

    def rows(self, node: Select, element: str, row_index: str) -> str:
        """SQL ``LIST(STRUCT)`` of the rows ``node`` yields for one context element."""
        if node.for_each is None and not node.repeat:
            return self.element_rows(node, element, row_index)
        if node.for_each is not None:
            where = f"{node.location}.{'forEachOrNull' if node.or_null else 'forEach'}"
            focus = self.path(node.for_each, self.scope(element, row_index), where).coll()
        else:
            focus = self.repeat(node, element, row_index)
        item, position = self.fresh(), self.fresh()
        per_item = self.element_rows(node, item, f"({position} - 1)")
        expanded = f"lambda {item}, {position}: {per_item}"
        if not node.or_null:
            return f"flatten(list_transform({focus}, {expanded}))"
        bound = self.fresh()
        return (
            f"list_transform([{focus}], lambda {bound}: CASE WHEN len({bound}) = 0"
            f" THEN [{self.null_row(node.output_columns())}]"
            f" ELSE flatten(list_transform({bound}, {expanded})) END)[1]"
        )

    def repeat(self, node: Select, element: str, row_index: str) -> str:
        """The depth-first closure of the repeat paths, ``REPEAT_DEPTH`` levels at most.

        Levels are expanded breadth-first, each item tagged with its index path ``k``; sorting
        on ``k`` restores pre-order. Each level wraps the previous one as a list argument (not
        inside a lambda body), which keeps DuckDB binding time linear in the depth.
        """

        def children(item: str) -> str:
            scope = self.scope(item, row_index)
            parts = [
                self.path(p, scope, f"{node.location}.repeat[{i}]").coll()
                for i, p in enumerate(node.repeat)
            ]
            return parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"

        def tagged(parent: str | None, depth: int) -> str:
            item, position = self.fresh(), self.fresh()
            source = children(element if parent is None else f"{parent}.n")
            key = f"[{position}]" if parent is None else f"list_append({parent}.k, {position})"
            entry = f"{{'k': {key}, 'd': {depth}, 'n': {item}}}"
            return f"list_transform({source}, lambda {item}, {position}: {entry})"

        def next_level(state: str, depth: int) -> str:
            parent = self.fresh()
            frontier = f"list_filter({state}, lambda {parent}: {parent}.d = {depth - 1})"
            return f"flatten(list_transform({frontier}, lambda {parent}: {tagged(parent, depth)}))"

        state = tagged(None, 0)
        for depth in range(1, REPEAT_DEPTH + 1):
            bound = self.fresh()
            grown = f"list_concat({bound}, {next_level(bound, depth)})"
            state = f"list_transform([{state}], lambda {bound}: {grown})[1]"
        bound = self.fresh()
        too_deep = sql_string(f"{node.location}.repeat nests deeper than {REPEAT_DEPTH} levels")
        checked = (
            f"list_transform([{state}], lambda {bound}: CASE WHEN"
            f" len({next_level(bound, REPEAT_DEPTH + 1)}) > 0 THEN error({too_deep})"
            f" ELSE {bound} END)[1]"
        )
        entry = self.fresh()
        return f"list_transform(list_sort({checked}), lambda {entry}: {entry}.n)"

    def element_rows(self, node: Select, element: str, row_index: str) -> str:
        """Rows for one element: columns x each nested select x (union of unionAll branches)."""
        parts: list[tuple[str, tuple[Column, ...]]] = []
        if node.columns:
            scope = self.scope(element, row_index)
            fields = ", ".join(
                f"{sql_string(c.name)}: {self.column_value(c, scope)}" for c in node.columns
            )
            parts.append((f"[{{{fields}}}]", node.columns))
        for child in node.selects:
            parts.append((self.rows(child, element, row_index), child.output_columns()))
        if node.union_all:
            branches = [self.rows(b, element, row_index) for b in node.union_all]
            union = branches[0] if len(branches) == 1 else f"list_concat({', '.join(branches)})"
            parts.append((union, node.union_all[0].output_columns()))
        rows_sql, columns = parts[0]
        for other_sql, other_columns in parts[1:]:
            rows_sql = self.cross(rows_sql, columns, other_sql, other_columns)
            columns = columns + other_columns
        return rows_sql

    def cross(
        self,
        left: str,
        left_columns: Sequence[Column],
        right: str,
        right_columns: Sequence[Column],
    ) -> str:
        a, b = self.fresh(), self.fresh()
        fields = [f"{sql_string(c.name)}: {a}[{sql_string(c.name)}]" for c in left_columns]
        fields += [f"{sql_string(c.name)}: {b}[{sql_string(c.name)}]" for c in right_columns]
        merged = "{" + ", ".join(fields) + "}"
        pairs = f"list_transform({right}, lambda {b}: {merged})"
        return f"flatten(list_transform({left}, lambda {a}: {pairs}))"

    @staticmethod
    def null_row(columns: Sequence[Column]) -> str:
        """The forEachOrNull row for an empty focus: all NULL, except %rowIndex which is 0."""
        fields = ", ".join(
            f"{sql_string(c.name)}: "
            + ("to_json(0)" if c.path == Constant("rowIndex") else "NULL")
            + f"::{'JSON[]' if c.collection else 'JSON'}"
            for c in columns
        )
        return "{" + fields + "}"

    def column_value(self, column: Column, scope: Scope) -> str:
        """The column's raw value: one JSON item (or NULL), or a JSON[] when a collection."""
        expr = self.path(column.path, scope, f"{column.location}.path")
        declared = column.fhir_type is not None
        self.types.setdefault(
            column.name, column_type(column.fhir_type or expr.fhir_type, declared)
        )
        if column.collection:
            return f"({expr.coll()})::JSON[]"
        if expr.kind == "bool":
            return f"to_json({expr.sql})"
        message = sql_string(
            f"{column.location} ({column.name}) yields several values;"
            " use first() or collection: true"
        )
        return f"sof_one_item({expr.coll()}, {message})::JSON"

    # -- whole view -----------------------------------------------------------------------------

    def where(self) -> list[str]:
        conditions: list[str] = []
        for node, location in self.view.where:
            expr = self.path(node, self.scope(_RESOURCE, "0"), location)
            if expr.kind == "bool":
                conditions.append(f"coalesce({expr.sql}, false)")
            else:
                conditions.append(f"sof_where_bool({expr.sql})")
        return conditions

    def output(self, column: Column) -> tuple[str, str]:
        """Outer projection of one column and its cast-error test (empty when unchecked)."""
        typing = self.types[column.name]
        raw = f"{_ROW}[{sql_string(column.name)}]"
        macro = typing.cast_macro
        if column.collection:
            v = self.fresh()
            value = f"list_transform({raw}, lambda {v}: {macro}({v}))"
            failed = f"len(list_filter({raw}, lambda {v}: {macro}({v}) IS NULL)) > 0"
        else:
            value = f"{macro}({raw})"
            failed = f"{raw} IS NOT NULL AND {macro}({raw}) IS NULL"
        projection = f"{value} AS {quote_identifier(column.name)}"
        check = f"CASE WHEN {failed} THEN {sql_string(column.name)} END" if typing.checked else ""
        return projection, check

    def compile(self, source: str, passthrough: Sequence[str]) -> CompiledView:
        rows = self.rows(self.view.root, _RESOURCE, "0")
        columns = self.view.root.output_columns()
        clash = {p.lower() for p in passthrough} & {c.name.lower() for c in columns}
        if clash or CAST_ERRORS_COLUMN in {p.lower() for p in passthrough}:
            raise ViewDefinitionError(
                f"passthrough columns clash with view columns: {sorted(clash)}"
            )
        outputs = [self.output(c) for c in columns]
        checks = [check for _, check in outputs if check]
        errors = (
            f"list_filter([{', '.join(checks)}], lambda _e: _e IS NOT NULL)"
            if checks
            else "[]::VARCHAR[]"
        )
        kept = [quote_identifier(p) for p in passthrough]
        resource_type = f"json_extract_string({_RESOURCE}, '$.resourceType')"
        conditions = [
            f"{resource_type} = {sql_string(self.view.resource)}",
            *self.where(),
        ]
        inner = ", ".join([*(f"_sof_src.{p}" for p in kept), f"unnest({rows}) AS {_ROW}"])
        outer = ", ".join([*kept, *(projection for projection, _ in outputs)])
        sql = (
            f"SELECT {outer}, {errors}::VARCHAR[] AS {CAST_ERRORS_COLUMN}\n"
            f"FROM (\n  SELECT {inner}\n  FROM {source} AS _sof_src\n"
            f"  WHERE {' AND '.join(conditions)}\n)"
        )
        described = [(p, PASSTHROUGH_TYPE) for p in passthrough]
        described += [
            (c.name, self.types[c.name].duckdb_type + ("[]" if c.collection else ""))
            for c in columns
        ]
        described.append((CAST_ERRORS_COLUMN, "VARCHAR[]"))
        return CompiledView(sql, described, self.view.resource, self.view.fhir_versions)


def compile_view(
    view: Mapping[str, Any], *, source: str, passthrough: Sequence[str] = ()
) -> CompiledView:
    """Compile ``view`` into a SELECT over relation ``source`` (which has a JSON ``resource``).

    ``passthrough`` names source columns copied unchanged in front of the view's columns.
    Raises ViewDefinitionError when the view is invalid or uses an unsupported feature.
    """
    return _Compiler(load_view(view)).compile(source, passthrough)
