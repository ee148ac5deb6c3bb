"""Compile a SQL-on-FHIR v2 ViewDefinition into one set-based DuckDB SELECT.

Shape of the generated SQL, innermost first:

1. the source, filtered to the view's resource type (on a JSON read, after parsing each
   resource once into the top-level elements the view reads);
2. layers of bindings (bindings.py): each FHIRPath collection that depends only on the resource
   becomes a column, computed once however many columns use it; the view's ``where`` filters
   between the bindings it needs and the others;
3. the rows: when no select iterates (forEach, repeat, unionAll), one row per resource whose
   columns are plain expressions; otherwise each select node yields, per context element, a
   ``LIST(STRUCT)`` of rows (forEach = ``list_transform`` over the focus, nested select = cross
   product, unionAll = ``list_concat``), ``unnest``-ed once per resource;
4. casts of each value to its column type, and ``_cast_errors``, the names of columns whose
   value did not cast.

``compile_view(..., structure=...)`` compiles for a typed read of NDJSON (shapes.py) instead of a
JSON ``resource`` column.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from healthex_pipeline.sof.bindings import Plan, RowBindings
from healthex_pipeline.sof.column_types import ColumnType, column_type
from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath_ast import Constant, Node
from healthex_pipeline.sof.path_sql import ROOT_FIELDS, Expr, Scope, clean, translate
from healthex_pipeline.sof.shapes import RESOURCE_TYPE, Shape, TypedSource, Untyped
from healthex_pipeline.sof.shapes import Path as ShapePath
from healthex_pipeline.sof.sql_text import json_literal, json_path, quote_identifier, sql_string
from healthex_pipeline.sof.view_model import Column, ConstantValue, Select, View, load_view

CAST_ERRORS_COLUMN = "_cast_errors"
# The type reported for passthrough columns: whatever the source relation holds.
PASSTHROUGH_TYPE = "ANY"
REPEAT_DEPTH = 16
_SRC = "_sof_src"
_RESOURCE = f"{_SRC}.resource"
# The resource as a collection item: json() makes it compact JSON like every other item.
_RESOURCE_ITEM = f"json({_RESOURCE})"
_ROW = "_sof_row"
# Output cast of a text (VARCHAR) value per JSON cast macro; "" when the text is the value.
_TEXT_CASTS = {
    "sof_to_string": "",
    "sof_to_any": "",
    "sof_to_double": "sof_text_to_double",
    "sof_to_bigint": "sof_text_to_bigint",
    "sof_to_boolean": "sof_text_to_boolean",
    "sof_to_date": "sof_text_to_date",
    "sof_to_datetime": "sof_text_to_datetime",
    "sof_to_instant": "sof_text_to_instant",
    "sof_to_time": "sof_text_to_time",
}
# The check a text value needs before the cast of its column (macros.py), per JSON cast macro.
_TEXT_CHECKS = {
    "sof_to_string": "sof_text_checked",
    "sof_to_any": "sof_text_checked",
    "sof_to_bigint": "sof_text_checked",
    "sof_to_double": "sof_number_checked",
    "sof_to_boolean": "sof_number_checked",
    "sof_to_date": "sof_date_checked",
    "sof_to_datetime": "sof_date_checked",
    "sof_to_instant": "sof_date_checked",
    "sof_to_time": "sof_date_checked",
}


@dataclass(frozen=True, slots=True)
class CompiledView:
    """A compiled ViewDefinition: SQL over the source relation and its output columns."""

    sql: str
    columns: list[tuple[str, str]]
    resource: str
    fhir_versions: tuple[str, ...]
    # None: the source has a JSON ``resource`` column. Else the source must have these columns
    # (name -> DuckDB type): the resource's top-level elements, read typed (see shapes.py).
    read_columns: Mapping[str, str] | None = None


def _constant_expr(name: str, constant: ConstantValue) -> Expr:
    if not isinstance(constant.value, str | int | float | bool):
        raise ViewDefinitionError(f"constant {name} must have a primitive value")
    return Expr(f"[{json_literal(constant.value)}]", fhir_type=constant.fhir_type)


@dataclass
class _Compiler:
    """Per-view compilation state: constants, fresh names and the first typing of each column."""

    view: View
    typed: TypedSource | None = None
    names: Iterator[int] = field(default_factory=itertools.count)
    types: dict[str, ColumnType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.constants: Mapping[str, Expr] = {
            name: _constant_expr(name, value) for name, value in self.view.constants.items()
        }
        self.bindings = RowBindings(self.names)
        self.text_columns: set[str] = set()

    def scope(self, element: str, row_index: str, shape: Shape | None = None) -> Scope:
        """The scope of one context element (``shape``: its STRUCT shape when read typed)."""
        if self.typed is not None and element == _RESOURCE:
            element, shape = self.typed.alias, Shape(())
        elif element == _RESOURCE:
            element = _RESOURCE_ITEM
        return Scope(
            this=f"[{element}]",
            resource=_RESOURCE_ITEM,
            resource_type=self.view.resource,
            row_index=row_index,
            constants=self.constants,
            names=self.names,
            bindings=self.bindings,
            row_level=element in (_RESOURCE_ITEM, _SRC),
            typed=self.typed,
            this_shape=shape,
        )

    def fresh(self) -> str:
        return f"_v{next(self.names)}"

    def path(self, node: Node, scope: Scope, location: str) -> Expr:
        try:
            return translate(node, scope)
        except ViewDefinitionError as exc:
            raise ViewDefinitionError(f"{location}: {exc}") from exc

    # -- rows ---------------------------------------------------------------------------------

    def rows(self, node: Select, element: str, row_index: str, shape: Shape | None = None) -> str:
        """SQL ``LIST(STRUCT)`` of the rows ``node`` yields for one context element."""
        if node.for_each is None and not node.repeat:
            return self.element_rows(node, element, row_index, shape)
        item_shape: Shape | None = None
        if node.for_each is not None:
            where = f"{node.location}.{'forEachOrNull' if node.or_null else 'forEach'}"
            scope = self.scope(element, row_index, shape)
            iterated = clean(self.path(node.for_each, scope, where), scope)
            if iterated.leaf is not None:  # rows of text items: iterate their JSON instead
                raise Untyped(iterated.leaf)
            focus, item_shape = iterated.items(), iterated.shape
        else:
            focus = self.repeat(node, element, row_index, shape)
        item, position = self.fresh(), self.fresh()
        per_item = self.element_rows(node, item, f"({position} - 1)", item_shape)
        expanded = f"lambda {item}, {position}: {per_item}"
        if not node.or_null:
            return f"flatten(list_transform({focus}, {expanded}))"
        bound = self.fresh()
        return (
            f"list_transform([{focus}], lambda {bound}: CASE WHEN len({bound}) = 0"
            f" THEN [{self.null_row(node.output_columns())}]"
            f" ELSE flatten(list_transform({bound}, {expanded})) END)[1]"
        )

    def repeat(self, node: Select, element: str, row_index: str, shape: Shape | None) -> str:
        """The depth-first closure of the repeat paths, ``REPEAT_DEPTH`` levels at most.

        Levels are expanded breadth-first, each item tagged with its index path ``k``; sorting
        on ``k`` restores pre-order. Each level wraps the previous one as a list argument (not
        inside a lambda body), which keeps DuckDB binding time linear in the depth.
        """

        def children(item: str) -> str:
            scope = self.scope(item, row_index, shape if item == element else None)
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

    def element_rows(
        self, node: Select, element: str, row_index: str, shape: Shape | None = None
    ) -> str:
        """Rows for one element: columns x each nested select x (union of unionAll branches)."""
        parts: list[tuple[str, tuple[Column, ...]]] = []
        if node.columns:
            scope = self.scope(element, row_index, shape)
            fields = ", ".join(
                f"{sql_string(c.name)}: {self.column_value(c, scope)}" for c in node.columns
            )
            parts.append((f"[{{{fields}}}]", node.columns))
        for child in node.selects:
            parts.append((self.rows(child, element, row_index, shape), child.output_columns()))
        if node.union_all:
            branches = [self.rows(b, element, row_index, shape) for b in node.union_all]
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

    def column_value(self, column: Column, scope: Scope, flat: bool = False) -> str:
        """The column's raw value: one JSON item (or NULL), or a JSON[] when a collection.

        Text values (shapes.py) stay VARCHAR in a ``flat`` view (cast by _TEXT_CASTS); in rows
        built as lists (forEach, unionAll) they become JSON strings like every other value.
        """
        expr = self.path(column.path, scope, f"{column.location}.path")
        declared = column.fhir_type is not None
        typing = self.types.setdefault(
            column.name, column_type(column.fhir_type or expr.fhir_type, declared)
        )
        message = sql_string(
            f"{column.location} ({column.name}) yields several values;"
            " use first() or collection: true"
        )
        if expr.leaf is not None:
            checked = _TEXT_CHECKS[typing.cast_macro]
            v = self.fresh()
            if column.collection:
                items = f"list_transform({expr.items()}, lambda {v}: {checked}({v}))"
                if flat:
                    self.text_columns.add(column.name)
                    return items
                return f"list_transform({items}, lambda {v}: to_json({v}))::JSON[]"
            value = expr.single or f"sof_one_item({expr.items()}, {message})"
            if flat:
                self.text_columns.add(column.name)
                return f"{checked}({value})"
            return f"to_json({checked}({value}))"
        if column.collection:
            return f"({expr.coll()})::JSON[]"
        if expr.kind == "bool":
            return f"to_json({expr.sql})"
        if expr.raw is not None:  # one JSON value read typed: no list to build
            return f"sof_json_item({expr.raw}, {message})::JSON"
        return f"sof_one_item({expr.coll()}, {message})::JSON"

    # -- whole view -----------------------------------------------------------------------------

    def where(self) -> list[str]:
        conditions: list[str] = []
        for node, location in self.view.where:
            expr = self.path(node, self.scope(_RESOURCE, "0"), location)
            if expr.kind == "bool":
                conditions.append(f"coalesce({expr.sql}, false)")
            else:
                conditions.append(f"sof_where_bool({expr.coll()})")
        return conditions

    def flat_values(self, node: Select) -> list[str]:
        """Raw column values of a view whose every select yields exactly one row per resource."""
        scope = self.scope(_RESOURCE, "0")
        return [self.column_value(c, scope, flat=True) for c in node.output_columns()]

    def cast(self, index: int, column: Column) -> tuple[str, str]:
        """Typed value of raw column ``_sof_c<index>`` and its cast-failure test (or "")."""
        typing = self.types[column.name]
        raw = f"_sof_c{index}"
        macro = typing.cast_macro
        if column.name in self.text_columns:
            macro = _TEXT_CASTS[macro]
            if not macro:  # text is already the column's value and cannot fail
                return raw, ""
        if column.collection:
            v = self.fresh()
            value = f"list_transform({raw}, lambda {v}: {macro}({v}))"
            failed = f"len(list_filter(_sof_t{index}, lambda {v}: {v} IS NULL)) > 0"
        else:
            value = f"{macro}({raw})"
            failed = f"{raw} IS NOT NULL AND _sof_t{index} IS NULL"
        return value, failed if typing.checked else ""

    def compile(self, source: str, passthrough: Sequence[str]) -> CompiledView:
        columns = self.view.root.output_columns()
        _check_passthrough(passthrough, columns)
        self.bindings.stage = 0
        conditions = self.where()
        self.bindings.stage = 1
        flat = _singular(self.view.root)
        if flat:
            produced = self.flat_values(self.view.root)
        else:
            produced = [self.rows(self.view.root, _RESOURCE, "0")]
        assumptions = self.typed.assumptions if self.typed is not None else []
        plan = self.bindings.plan([*conditions, *produced, *assumptions])
        query = self.prefix(source, plan, conditions, assumptions)
        kept = [quote_identifier(p) for p in passthrough]
        if flat:
            raw = [f"{value} AS _sof_c{i}" for i, value in enumerate(produced)]
        else:
            unnested = [*(f"{_SRC}.{p}" for p in kept), f"unnest({produced[0]}) AS {_ROW}"]
            query = f"SELECT {', '.join(unnested)}\nFROM ({query}) AS {_SRC}"
            raw = [f"{_ROW}[{sql_string(c.name)}] AS _sof_c{i}" for i, c in enumerate(columns)]
        raw_layer = ", ".join([*(f"{_SRC}.{p}" for p in kept), *raw])
        sql = self.outputs(f"SELECT {raw_layer}\nFROM ({query}) AS {_SRC}", kept, columns)
        described = [(p, PASSTHROUGH_TYPE) for p in passthrough]
        described += [
            (c.name, self.types[c.name].duckdb_type + ("[]" if c.collection else ""))
            for c in columns
        ]
        described.append((CAST_ERRORS_COLUMN, "VARCHAR[]"))
        read_columns = self.typed.read_columns() if self.typed is not None else None
        return CompiledView(
            sql, described, self.view.resource, self.view.fhir_versions, read_columns
        )

    def prefix(
        self, source: str, plan: Plan, conditions: Sequence[str], assumptions: Sequence[str]
    ) -> str:
        """The source filtered to the view's resources, with the bindings its rows need.

        Layers: (JSON read: the resource parsed once into its top-level fields); resource type
        filter; bindings the view's where needs; the where filter; the other bindings, each
        layer after the layers it reads; (typed read: its assumptions, see shapes.py).
        """
        wanted = sql_string(self.view.resource)
        if self.typed is not None:
            resource_type = f"{_SRC}.{quote_identifier(RESOURCE_TYPE)}"
            query = f"SELECT * FROM {source} AS {_SRC}\nWHERE {resource_type} = {wanted}"
        else:
            paths = ", ".join(json_path(f) for f in plan.root_fields)
            query = (
                f"SELECT *, json_extract({_RESOURCE}, [{paths}]) AS {ROOT_FIELDS}\n"
                f"FROM {source} AS {_SRC}"
            )
            resource_type = f"sof_text({ROOT_FIELDS}[1])"
            query = f"SELECT * FROM ({query}) AS {_SRC}\nWHERE {resource_type} = {wanted}"
        for layer in plan.before_where:
            query = _layer(query, layer)
        if conditions:
            query = f"SELECT * FROM ({query}) AS {_SRC}\nWHERE {' AND '.join(conditions)}"
        for layer in plan.after_where:
            query = _layer(query, layer)
        if assumptions:
            checks = " AND ".join(f"({a})" for a in assumptions)
            query = f"SELECT * FROM ({query}) AS {_SRC}\nWHERE sof_assume({checks})"
        return query

    def outputs(self, raw_query: str, kept: Sequence[str], columns: Sequence[Column]) -> str:
        """Typed columns from the raw values ``_sof_c<i>``, and the names of those not cast."""
        casts = [self.cast(i, c) for i, c in enumerate(columns)]
        typed = ", ".join(["*", *(f"{value} AS _sof_t{i}" for i, (value, _) in enumerate(casts))])
        failures = [
            (c.name, failed) for c, (_, failed) in zip(columns, casts, strict=True) if failed
        ]
        errors = "[]::VARCHAR[]"
        if failures:  # the list is built only for rows with a failure (most have none)
            named = ", ".join(f"CASE WHEN {f} THEN {sql_string(n)} END" for n, f in failures)
            errors = (
                f"CASE WHEN {' OR '.join(f'({f})' for _, f in failures)}"
                f" THEN list_filter([{named}], lambda _e: _e IS NOT NULL) ELSE []::VARCHAR[] END"
            )
        outputs = [f"_sof_t{i} AS {quote_identifier(c.name)}" for i, c in enumerate(columns)]
        return (
            f"SELECT {', '.join([*kept, *outputs])}, {errors}::VARCHAR[] AS {CAST_ERRORS_COLUMN}\n"
            f"FROM (SELECT {typed}\nFROM ({raw_query}))"
        )


def _check_passthrough(passthrough: Sequence[str], columns: Sequence[Column]) -> None:
    clash = {p.lower() for p in passthrough} & {c.name.lower() for c in columns}
    if clash or CAST_ERRORS_COLUMN in {p.lower() for p in passthrough}:
        raise ViewDefinitionError(f"passthrough columns clash with view columns: {sorted(clash)}")
    if any(p.lower().startswith("_sof_") for p in passthrough):
        raise ViewDefinitionError("passthrough column names must not start with _sof_")


def _layer(query: str, bindings: Sequence[tuple[str, str]]) -> str:
    columns = ", ".join(f"{sql} AS {name}" for name, sql in bindings)
    return f"SELECT *, {columns}\nFROM ({query}) AS {_SRC}"


def _singular(node: Select) -> bool:
    """True when ``node`` yields exactly one row per element: no forEach, repeat or unionAll."""
    return (
        node.for_each is None
        and not node.repeat
        and not node.union_all
        and all(_singular(child) for child in node.selects)
    )


def compile_view(
    view: Mapping[str, Any],
    *,
    source: str,
    passthrough: Sequence[str] = (),
    structure: Mapping[str, Any] | None = None,
) -> CompiledView:
    """Compile ``view`` into a SELECT over relation ``source`` (which has a JSON ``resource``).

    ``passthrough`` names source columns copied unchanged in front of the view's columns.
    With ``structure`` (``json_group_structure`` of a sample of the input), the view is compiled
    for a typed read where it can be: the result's ``read_columns`` then says which columns
    ``source`` must have (see shapes.py); top-level elements the typed SQL cannot serve are read
    as JSON, and when nothing can be typed the result is the generic compilation.
    Raises ViewDefinitionError when the view is invalid or uses an unsupported feature.
    """
    model = load_view(view)
    if structure is not None:
        untyped: set[ShapePath] = set()
        while True:
            try:
                typed = TypedSource(structure, frozenset(untyped), alias=_SRC)
                return _Compiler(model, typed).compile(source, passthrough)
            except Untyped as exc:
                if not exc.path or exc.path in untyped:
                    break
                untyped.add(exc.path)
    return _Compiler(model).compile(source, passthrough)
