"""Translate a FHIRPath syntax tree into a DuckDB SQL expression.

Every FHIRPath collection becomes a ``JSON[]`` expression, so a FHIR element that is a single
value in one FHIR version and an array in another navigates the same way. Boolean-valued
operators are kept as plain SQL ``BOOLEAN`` (NULL = empty) until a collection is needed, which
gives FHIRPath's three-valued logic for free. Only SQL text is produced here; nothing is
evaluated per resource in Python.

When the input was read typed (shapes.py), a collection of objects is a list of STRUCTs instead
(``Expr.shape``), and one of strings a list of VARCHAR (``Expr.leaf``): navigation, filters,
slices, counts, string comparisons and joins work on them directly; any other use asks for JSON
items and raises ``Untyped``, and the compiler reads that element as JSON instead.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.fhirpath_ast import (
    Binary,
    Call,
    Constant,
    EmptyLiteral,
    Indexer,
    Member,
    Node,
    TypeOp,
    Unary,
    Variable,
)
from healthex_pipeline.sof.fhirpath_ast import Literal as LiteralNode
from healthex_pipeline.sof.shapes import Path as ShapePath
from healthex_pipeline.sof.shapes import Shape, TypedSource, Untyped
from healthex_pipeline.sof.sql_text import json_literal, json_path, quote_identifier, sql_string

if TYPE_CHECKING:
    from healthex_pipeline.sof.bindings import RowBindings

INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
_ARITHMETIC = {"+": "sof_add", "-": "sof_sub", "*": "sof_mul", "/": "sof_div"}
_ARITHMETIC |= {"div": "sof_intdiv", "mod": "sof_mod", "&": "sof_concat"}
_COMPARISONS = frozenset({"<", "<=", ">", ">="})
# The column holding the top-level elements of the resource a view reads (one parse).
ROOT_FIELDS = "_sof_top"
_ONE_ITEM = re.compile(r"\[(_v[0-9]+)\]")
_NUMBER_OR_ARRAY = re.compile(r"\s*(\[.*|[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Expr:
    """A translated expression: a collection (a list of items) or a nullable SQL BOOLEAN.

    Items are JSON, or on a typed read STRUCTs (``shape``) or text (``leaf``).
    """

    sql: str
    kind: Literal["coll", "bool"] = "coll"
    fhir_type: str | None = None
    # Typed items: STRUCTs read at shape.path (None: JSON items).
    shape: Shape | None = None
    # Text items: VARCHAR values read at this path (None: JSON items).
    leaf: ShapePath | None = None
    # For typed collections of at most one item: SQL of that item (NULL when empty).
    single: str | None = None
    # For a JSON element read typed: the one JSON value this collection unpacks (sof_field).
    raw: str | None = None
    # Typed STRUCT items that may include NULLs (a JSON null in an array of objects). Navigation
    # ignores them anyway; functions that see items get a clean() list.
    dirty: bool = False
    # For text read from a list of STRUCTs: the values before NULLs (absent members) were
    # dropped, from which first() takes the first non-NULL value without filtering the list.
    unfiltered: str | None = None

    def items(self) -> str:
        """SQL of this collection as a list, whatever its items are (for list operations)."""
        return self.sql if self.kind == "coll" else f"sof_of_bool({self.sql})"

    def coll(self) -> str:
        """SQL of this expression as a ``JSON[]`` collection."""
        if self.shape is not None:
            raise Untyped(self.shape.path)
        if self.leaf is not None:
            raise Untyped(self.leaf)
        return self.items()

    def typed_like(self, sql: str, single: str | None = None) -> Expr:
        """A collection with this one's items (STRUCT, text or JSON) and FHIR type; clean."""
        return Expr(sql, fhir_type=self.fhir_type, shape=self.shape, leaf=self.leaf, single=single)

    def boolean(self) -> str:
        """SQL of this expression as a nullable BOOLEAN (FHIRPath singleton evaluation)."""
        return self.sql if self.kind == "bool" else f"sof_bool({self.coll()})"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a path is evaluated against: its focus, the resource, constants and row index."""

    this: str
    resource: str
    resource_type: str
    row_index: str
    constants: Mapping[str, Expr]
    names: Iterator[int] = field(default_factory=itertools.count)
    index: str | None = None
    # Set when ``this`` does not depend on a lambda variable: results may then be bound as
    # row-level columns (see bindings.py).
    bindings: RowBindings | None = None
    row_level: bool = False
    # Set when the input was read typed: ``this`` then holds items of ``this_shape``.
    typed: TypedSource | None = None
    this_shape: Shape | None = None

    def fresh(self) -> str:
        """A lambda variable name unique within the whole compiled view."""
        return f"_v{next(self.names)}"

    def focus(self) -> Expr:
        """``$this`` as an expression."""
        if self.this_shape is None:
            return Expr(self.this)
        match = _ONE_ITEM.fullmatch(self.this)
        single = match.group(1) if match else None
        if not self.this_shape.path and self.typed is not None:
            single = self.typed.alias
        return Expr(self.this, shape=self.this_shape, single=single)

    def resource_focus(self) -> Expr:
        """``%resource``: the resource as a one-item collection."""
        if self.typed is not None:
            return Expr(f"[{self.typed.alias}]", shape=Shape(()), single=self.typed.alias)
        return Expr(f"[{self.resource}]")

    def is_resource(self, expr: Expr) -> bool:
        """Whether ``expr`` is the resource itself (``%resource``, or ``$this`` at the top)."""
        if expr.shape is not None:
            return not expr.shape.path
        return expr.sql == f"[{self.resource}]"


def _bool(sql: str) -> Expr:
    return Expr(sql, "bool", "boolean")


def clean(expr: Expr, scope: Scope) -> Expr:
    """``expr`` without NULL items (see ``Expr.dirty``)."""
    if not expr.dirty:
        return expr
    w = scope.fresh()
    return replace(
        expr, sql=f"list_filter({expr.items()}, lambda {w}: {w} IS NOT NULL)", dirty=False
    )


def _typed_nav(focus: Expr, shape: Shape, name: str, scope: Scope) -> Expr:
    """Member ``name`` of typed items: STRUCT field access, no JSON parsing.

    The member holds STRUCTs (a list of them, or one or NULL), text (one VARCHAR or NULL), or
    JSON, which becomes a JSON collection as on the generic path. From one item (``single``)
    no list is built until one is needed.
    """
    if scope.typed is None:
        raise Untyped(shape.path)
    member = scope.typed.member(shape, name)
    field = quote_identifier(name)
    leaf = (*shape.path, name) if member.text else None
    if focus.single is not None:
        value = f"{focus.single}.{field}"
        if leaf is not None:
            return Expr(
                f"CASE WHEN {value} IS NULL THEN []::VARCHAR[] ELSE [{value}] END",
                leaf=leaf,
                single=value,
            )
        if member.shape is None:
            return Expr(f"sof_field({value})", raw=value)
        if not member.many:
            return Expr(
                f"CASE WHEN {value} IS NULL THEN [] ELSE [{value}] END",
                shape=member.shape,
                single=value,
            )
        return Expr(f"coalesce({value}, [])", shape=member.shape, dirty=True)
    v, w = scope.fresh(), scope.fresh()
    items = focus.items()
    if member.shape is None and leaf is None:
        return Expr(f"flatten(list_transform({items}, lambda {v}: sof_field({v}.{field})))")
    values = f"list_transform({items}, lambda {v}: {v}.{field})"
    if member.many:
        values = f"flatten({values})"
    if leaf is None:
        return Expr(values, shape=member.shape, dirty=True)
    return Expr(f"list_filter({values}, lambda {w}: {w} IS NOT NULL)", leaf=leaf, unfiltered=values)


def _map_items(base: str, scope: Scope, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` (item SQL -> JSON SQL or NULL) to each item, dropping NULL results."""
    v = scope.fresh()
    return f"list_filter(list_transform({base}, lambda {v}: {fn(v)}), lambda {v}: {v} IS NOT NULL)"


def _type_name(node: Node, where: str) -> str:
    """The type name written as a function argument, e.g. ``Quantity`` or ``FHIR.Quantity``."""
    if isinstance(node, Member):
        if node.base is None:
            return node.name
        if isinstance(node.base, Member) and node.base.base is None:
            return node.name  # namespace-qualified, e.g. FHIR.string / System.Integer
    raise ViewDefinitionError(f"{where} needs a type name argument")


def _kind_test(type_name: str, v: str) -> str:
    """SQL testing whether JSON item ``v`` can be a value of FHIR type ``type_name``."""
    if type_name == "boolean":
        return f"sof_lead({v}) IN ('t', 'f')"
    if type_name in INTEGER_TYPES:
        return f"json_type({v}) IN ('BIGINT', 'UBIGINT')"
    if type_name == "decimal":
        return f"sof_is_num({v})"
    if type_name[:1].islower():
        return f"sof_lead({v}) = '\"'"
    resource_type = f"json_extract_string({v}, '$.resourceType')"
    return (
        f"sof_lead({v}) = '{{' AND coalesce({resource_type}, {sql_string(type_name)})"
        f" = {sql_string(type_name)}"
    )


class _Translator:
    """Stateless dispatcher from AST nodes to SQL; the scope carries all context."""

    def translate(self, node: Node, scope: Scope) -> Expr:
        expr = self._translate(node, scope)
        bindings = scope.bindings
        if not scope.row_level or bindings is None:
            return expr
        if bindings.bindable(expr.sql):
            expr = replace(expr, sql=bindings.bind(expr.sql))
        if expr.single is not None and bindings.bindable(expr.single):
            expr = replace(expr, single=bindings.bind(expr.single))
        return expr

    @staticmethod
    def nav(focus: Expr, name: str, scope: Scope) -> Expr:
        """The ``name`` children of collection ``focus``; planned once when row-level."""
        if focus.shape is not None:
            return _typed_nav(focus, focus.shape, name, scope)
        sql = focus.coll()
        bindings = scope.bindings
        if bindings is not None:
            if sql == f"[{scope.resource}]":
                return Expr(bindings.nav(ROOT_FIELDS, name))
            if bindings.is_bound(sql):
                return Expr(bindings.nav(sql, name))
        return Expr(f"sof_nav({sql}, {json_path(name)})")

    def _translate(self, node: Node, scope: Scope) -> Expr:
        match node:
            case LiteralNode():
                return self.literal(node)
            case EmptyLiteral():
                return Expr("[]::JSON[]")
            case Member(base=None, name=name) if name == scope.resource_type:
                return scope.focus()
            case Member(base=base, name=name):
                focus = scope.focus() if base is None else self.translate(base, scope)
                return self.nav(focus, name, scope)
            case Call():
                return self.call(node, scope)
            case Indexer(base=base, index=index):
                return self.indexer(self.translate(base, scope), index, scope)
            case Binary():
                return self.binary(node, scope)
            case Unary(op=op, operand=operand):
                inner = self.translate(operand, scope)
                if op == "+":
                    return inner
                negated = f"sof_mul(sof_single({inner.coll()}), '-1'::JSON)"
                return Expr(f"sof_wrap({negated})", fhir_type=inner.fhir_type)
            case TypeOp(op=op, operand=operand, type_name=type_name):
                typed = self.of_type(operand, type_name.split(".")[-1], scope)
                return _bool(f"len({typed.sql}) > 0") if op == "is" else typed
            case Variable(name=name):
                return self.variable(name, scope)
            case Constant(name=name):
                return self.constant(name, scope)

    @staticmethod
    def literal(node: LiteralNode) -> Expr:
        value: Any = node.text
        if node.kind == "boolean":
            return _bool(node.text)
        if node.kind == "integer":
            value = int(node.text)
        elif node.kind == "decimal":
            value = float(node.text)
        return Expr(f"[{json_literal(value)}]", fhir_type=node.kind)

    @staticmethod
    def variable(name: str, scope: Scope) -> Expr:
        if name == "this":
            return scope.focus()
        if name == "index" and scope.index is not None:
            return Expr(f"[to_json({scope.index})]", fhir_type="integer")
        raise ViewDefinitionError(f"${name} is not supported here")

    @staticmethod
    def constant(name: str, scope: Scope) -> Expr:
        if name == "rowIndex":
            return Expr(f"[to_json({scope.row_index})]", fhir_type="integer")
        if name in ("resource", "rootResource"):
            return scope.resource_focus()
        if name not in scope.constants:
            raise ViewDefinitionError(f"undefined constant %{name}")
        return scope.constants[name]

    def indexer(self, base: Expr, index: Node, scope: Scope) -> Expr:
        if isinstance(index, LiteralNode) and index.kind == "integer":
            position = str(int(index.text) + 1)
        else:
            position = f"(sof_to_bigint(sof_single({self.translate(index, scope).coll()})) + 1)"
        base = clean(base, scope)
        return base.typed_like(f"list_slice({base.items()}, greatest({position}, 1), {position})")

    def binary(self, node: Binary, scope: Scope) -> Expr:
        left = self.translate(node.left, scope)
        right = self.translate(node.right, scope)
        op = node.op
        if op in ("=", "!="):
            text = _text_equality(left, node.right) or _text_equality(right, node.left)
            if text is not None:
                return _bool(text if op == "=" else f"(NOT {text})")
        if op in ("and", "or"):
            return _bool(f"({left.boolean()} {op.upper()} {right.boolean()})")
        if op == "xor":
            return _bool(f"({left.boolean()} <> {right.boolean()})")
        if op == "implies":
            return _bool(f"((NOT {left.boolean()}) OR {right.boolean()})")
        if op in ("=", "!="):
            if left.kind == right.kind == "bool":
                equal = f"({left.sql} = {right.sql})"
            else:
                equal = f"sof_eq({left.coll()}, {right.coll()})"
            return _bool(equal if op == "=" else f"(NOT {equal})")
        if op in ("~", "!~"):
            equivalent = f"sof_equiv({left.coll()}, {right.coll()})"
            return _bool(equivalent if op == "~" else f"(NOT {equivalent})")
        if op in _COMPARISONS:
            return _bool(f"(sof_cmp({left.coll()}, {right.coll()}) {op} 0)")
        if op == "|":
            return Expr(f"list_distinct(list_concat({left.coll()}, {right.coll()}))")
        if op == "in":
            return _bool(f"sof_contains({right.coll()}, sof_single({left.coll()}))")
        if op == "contains":
            return _bool(f"sof_contains({left.coll()}, sof_single({right.coll()}))")
        if op in _ARITHMETIC:
            item = f"{_ARITHMETIC[op]}(sof_single({left.coll()}), sof_single({right.coll()}))"
            return Expr(f"sof_wrap({item})", fhir_type=_arithmetic_type(op, left, right))
        raise ViewDefinitionError(f"operator {op!r} is not supported")

    def of_type(self, operand: Node, type_name: str, scope: Scope) -> Expr:
        """``ofType``: choice elements (``value`` -> ``valueQuantity``) plus a kind filter."""
        v = scope.fresh()
        fhir_type = type_name if type_name[:1].islower() else None
        if isinstance(operand, Member) and operand.name != scope.resource_type:
            parent = scope.focus() if operand.base is None else self.translate(operand.base, scope)
            choice = operand.name + type_name[:1].upper() + type_name[1:]
            chosen = self.nav(parent, choice, scope)
            plain = self.nav(parent, operand.name, scope)
            if parent.shape is not None and scope.typed is not None and scope.row_level:
                # Typed read: FHIR writes a choice element only with its type suffix; assume
                # the bare name absent rather than filter it for every row.
                absent = f"{plain.raw} IS NULL" if plain.raw else f"len({plain.coll()}) = 0"
                scope.typed.assume(absent)
                return replace(chosen, fhir_type=fhir_type)
            filtered = f"list_filter({plain.coll()}, lambda {v}: {_kind_test(type_name, v)})"
            return Expr(f"list_concat({chosen.coll()}, {filtered})", fhir_type=fhir_type)
        base = self.translate(operand, scope).coll()
        return Expr(
            f"list_filter({base}, lambda {v}: {_kind_test(type_name, v)})", fhir_type=fhir_type
        )

    def call(self, node: Call, scope: Scope) -> Expr:
        handler = _FUNCTIONS.get(node.name)
        if handler is None:
            raise ViewDefinitionError(f"FHIRPath function {node.name}() is not supported")
        arity_min, arity_max, fn = handler
        if not arity_min <= len(node.args) <= arity_max:
            raise ViewDefinitionError(
                f"{node.name}() takes {arity_min}..{arity_max} arguments, got {len(node.args)}"
            )
        return fn(self, node, scope)

    def base(self, node: Call, scope: Scope, keep_nulls: bool = False) -> Expr:
        """The input collection of a function call (the focus when written bare), clean()."""
        focus = scope.focus() if node.base is None else self.translate(node.base, scope)
        return focus if keep_nulls else clean(focus, scope)

    def item_scope(self, base: Expr, scope: Scope) -> tuple[str, str, Scope]:
        """Lambda variables (item, 1-based position) and the scope of one item of ``base``."""
        if base.leaf is not None:  # item scopes hold JSON or STRUCT items, not text
            raise Untyped(base.leaf)
        v, i = scope.fresh(), scope.fresh()
        inner = replace(
            scope, this=f"[{v}]", index=f"({i} - 1)", row_level=False, this_shape=base.shape
        )
        return v, i, inner

    def predicate(self, node: Call, scope: Scope) -> tuple[Expr, str]:
        """The input collection and a lambda ``v, i: <criteria as BOOLEAN>`` over its items.

        NULL items of a typed list are skipped by the criteria itself, unless it reads
        ``$index`` (which must not count them): then the list is cleaned first.
        """
        base = self.base(node, scope, keep_nulls=True)
        base = replace(base, sql=base.items(), kind="coll")
        v, i, inner = self.item_scope(base, scope)
        criteria = self.translate(node.args[0], inner).boolean()
        if base.dirty and f"({i} - 1)" in criteria:
            base = clean(base, scope)
            v, i, inner = self.item_scope(base, scope)
            criteria = self.translate(node.args[0], inner).boolean()
        guard = f"{v} IS NOT NULL AND " if base.dirty else ""
        return base, f"lambda {v}, {i}: {guard}coalesce({criteria}, false)"

    def single_arg(self, node: Call, position: int, scope: Scope) -> str:
        """An argument evaluated against the call's focus, as one JSON item (or NULL)."""
        return f"sof_single({self.translate(node.args[position], scope).coll()})"


def _text_equality(text: Expr, other: Node) -> str | None:
    """``text = 'literal'`` on text items, as the JSON comparison does it: by text.

    A number read as text may be written differently than JSON text writes it, so a literal
    that looks like a number (or an array) is compared on JSON instead.
    """
    if text.leaf is None or not (isinstance(other, LiteralNode) and other.kind == "string"):
        return None
    if _NUMBER_OR_ARRAY.fullmatch(other.text):
        raise Untyped(text.leaf)
    literal = sql_string(other.text)
    if text.single is not None:
        return f"sof_text_eq({text.single}, {literal})"
    items = text.items()
    return (
        f"(CASE WHEN len({items}) = 0 THEN NULL WHEN len({items}) > 1 THEN false"
        f" ELSE sof_text_eq({items}[1], {literal}) END)"
    )


def _arithmetic_type(op: str, left: Expr, right: Expr) -> str | None:
    if op == "&":
        return "string"
    if op == "/":
        return "decimal"
    if left.fhir_type in INTEGER_TYPES and right.fhir_type in INTEGER_TYPES:
        return "integer"
    return "decimal" if {left.fhir_type, right.fhir_type} <= {"decimal", *INTEGER_TYPES} else None


_Handler = Callable[[_Translator, Call, Scope], Expr]


def _fn_where(t: _Translator, node: Call, scope: Scope) -> Expr:
    base, criteria = t.predicate(node, scope)
    return base.typed_like(f"list_filter({base.sql}, {criteria})")


def _fn_exists(t: _Translator, node: Call, scope: Scope) -> Expr:
    if not node.args:
        return _bool(f"(len({t.base(node, scope).items()}) > 0)")
    base, criteria = t.predicate(node, scope)
    return _bool(f"(len(list_filter({base.sql}, {criteria})) > 0)")


def _fn_all(t: _Translator, node: Call, scope: Scope) -> Expr:
    base, criteria = t.predicate(node, scope)
    return _bool(f"coalesce(list_bool_and(list_transform({base.sql}, {criteria})), true)")


def _fn_select(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope)
    v, i, inner = t.item_scope(base, scope)
    projection = t.translate(node.args[0], inner)
    return Expr(
        f"flatten(list_transform({base.items()}, lambda {v}, {i}: {projection.items()}))",
        fhir_type=projection.fhir_type,
        shape=projection.shape,
    )


def _fn_empty(t: _Translator, node: Call, scope: Scope) -> Expr:
    return _bool(f"(len({t.base(node, scope).items()}) = 0)")


def _fn_not(t: _Translator, node: Call, scope: Scope) -> Expr:
    return _bool(f"(NOT {t.base(node, scope).boolean()})")


def _slice(start: str, end: str) -> _Handler:
    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = t.base(node, scope, keep_nulls=start == end == "1")
        typed = base.shape is not None or base.leaf is not None
        if base.dirty:  # first() of a list that may hold NULLs: skip them, lazily
            w, item = scope.fresh(), f"{base.items()}[1]"
            single = (
                f"(CASE WHEN {item} IS NOT NULL THEN {item}"
                f" ELSE list_filter({base.items()}, lambda {w}: {w} IS NOT NULL)[1] END)"
            )
            return base.typed_like(
                f"CASE WHEN {single} IS NULL THEN [] ELSE [{single}] END", single
            )
        single = f"{base.items()}[{start}]" if typed and start == end else None
        if base.unfiltered is not None and start == end == "1":
            single = f"list_any_value({base.unfiltered})"
        return base.typed_like(f"list_slice({base.items()}, {start}, {end})", single)

    return handler


def _counted_slice(take: bool) -> _Handler:
    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = t.base(node, scope)
        count = f"coalesce(sof_to_bigint({t.single_arg(node, 0, scope)}), 0)"
        bounds = f"1, {count}" if take else f"greatest({count}, 0) + 1, 2147483647"
        return base.typed_like(f"list_slice({base.items()}, {bounds})")

    return handler


def _fn_single(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope)
    return Expr(f"sof_wrap(sof_single({base.coll()}))", fhir_type=base.fhir_type)


def _fn_count(t: _Translator, node: Call, scope: Scope) -> Expr:
    return Expr(f"[to_json(len({t.base(node, scope).items()}))]", fhir_type="integer")


def _fn_distinct(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope)
    return Expr(f"list_distinct({base.coll()})", fhir_type=base.fhir_type)


def _fn_join(t: _Translator, node: Call, scope: Scope) -> Expr:
    focus = t.base(node, scope)
    separator = "''"
    if node.args:
        # DuckDB needs a constant separator, so only a string literal is accepted.
        arg = node.args[0]
        if not (isinstance(arg, LiteralNode) and arg.kind == "string"):
            raise ViewDefinitionError("join() separator must be a string literal")
        separator = sql_string(arg.text)
    v = scope.fresh()
    if focus.leaf is not None:
        texts = f"list_transform({focus.items()}, lambda {v}: sof_text_checked({v}))"
    else:
        texts = f"list_transform({focus.coll()}, lambda {v}: sof_text({v}))"
    return Expr(f"[to_json(array_to_string({texts}, {separator}))]", fhir_type="string")


def _fn_of_type(t: _Translator, node: Call, scope: Scope) -> Expr:
    type_name = _type_name(node.args[0], f"{node.name}()")
    operand = node.base if node.base is not None else Variable("this")
    return t.of_type(operand, type_name, scope)


def _fn_extension(t: _Translator, node: Call, scope: Scope) -> Expr:
    extensions = t.nav(t.base(node, scope), "extension", scope).coll()
    url = t.single_arg(node, 0, scope)
    v = scope.fresh()
    return Expr(
        f"list_filter({extensions}, lambda {v}: sof_item_eq(json_extract({v}, '$.url'), {url}))"
    )


def _fn_resource_key(t: _Translator, node: Call, scope: Scope) -> Expr:
    focus = t.base(node, scope)
    if scope.is_resource(focus):
        return replace(t.nav(focus, "id", scope), fhir_type="id")
    base = focus.coll()
    return Expr(_map_items(base, scope, lambda v: f"json_extract({v}, '$.id')"), fhir_type="id")


def _fn_reference_key(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    wanted = sql_string(_type_name(node.args[0], "getReferenceKey()")) if node.args else "NULL"
    return Expr(_map_items(base, scope, lambda v: f"sof_ref_key({v}, {wanted})"), fhir_type="id")


def _fn_iif(t: _Translator, node: Call, scope: Scope) -> Expr:
    if node.base is None:
        inner = scope
    else:
        inner = replace(scope, this=t.base(node, scope).coll(), this_shape=None)
    criterion = t.translate(node.args[0], inner).boolean()
    then = t.translate(node.args[1], inner)
    otherwise = t.translate(node.args[2], inner).coll() if len(node.args) > 2 else "[]::JSON[]"
    fhir_type = then.fhir_type if len(node.args) == 2 else None
    return Expr(
        f"(CASE WHEN {criterion} THEN {then.coll()} ELSE {otherwise} END)", "coll", fhir_type
    )


def _fn_has_value(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    return _bool(f"(len({base}) = 1 AND json_type({base}[1]) NOT IN ('OBJECT', 'ARRAY'))")


def _string_fn(fhir_type: str, body: Callable[[_Translator, Call, Scope, str], str]) -> _Handler:
    """A function of one string item: ``body`` builds a JSON SQL value from the item's text."""

    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = f"sof_wrap(sof_single({t.base(node, scope).coll()}))"

        def item(v: str) -> str:
            value = body(t, node, scope, f"sof_text({v})")
            return f"CASE WHEN json_type({v}) = 'VARCHAR' THEN to_json({value}) END"

        return Expr(_map_items(base, scope, item), fhir_type=fhir_type)

    return handler


def _text_arg(t: _Translator, node: Call, scope: Scope, position: int) -> str:
    return f"sof_text({t.single_arg(node, position, scope)})"


def _fn_to_string(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = f"sof_wrap(sof_single({t.base(node, scope).coll()}))"
    return Expr(
        _map_items(
            base,
            scope,
            lambda v: (
                f"CASE WHEN json_type({v}) NOT IN ('OBJECT', 'ARRAY')"
                f" THEN to_json(sof_text({v})) END"
            ),
        ),
        fhir_type="string",
    )


def _converter(macro: str, fhir_type: str) -> _Handler:
    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = f"sof_wrap(sof_single({t.base(node, scope).coll()}))"
        return Expr(
            _map_items(base, scope, lambda v: f"to_json({macro}({v}))"), fhir_type=fhir_type
        )

    return handler


def _boundary(low: bool) -> _Handler:
    """lowBoundary()/highBoundary(): by static type, else by the value's shape."""
    side = "low" if low else "high"

    def item(fhir_type: str | None, v: str) -> str:
        text = f"sof_text({v})"
        decimal = f"WHEN sof_is_num({v}) THEN sof_decimal_bound({v}, {'-1' if low else '1'})"
        temporal = f"WHEN json_type({v}) = 'VARCHAR' AND "
        if fhir_type in ("dateTime", "instant"):
            return f"CASE {temporal}true THEN to_json(sof_datetime_{side}({text})) END"
        if fhir_type == "time":
            return f"CASE {temporal}true THEN to_json(sof_time_{side}({text})) END"
        if fhir_type in ("decimal", *INTEGER_TYPES):
            return f"CASE {decimal} END"
        return (
            f"CASE {decimal}"
            f" {temporal}regexp_full_match({text}, '[0-9]{{4}}(-[0-9]{{2}}(-[0-9]{{2}})?)?')"
            f" THEN to_json(sof_date_{side}({text}))"
            f" {temporal}contains({text}, 'T') THEN to_json(sof_datetime_{side}({text}))"
            f" {temporal}regexp_full_match({text}, '[0-9]{{2}}:[0-9]{{2}}.*')"
            f" THEN to_json(sof_time_{side}({text})) END"
        )

    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = t.base(node, scope)
        mapped = _map_items(base.coll(), scope, lambda v: item(base.fhir_type, v))
        return Expr(mapped, fhir_type=base.fhir_type)

    return handler


_FUNCTIONS: dict[str, tuple[int, int, _Handler]] = {
    "where": (1, 1, _fn_where),
    "exists": (0, 1, _fn_exists),
    "all": (1, 1, _fn_all),
    "select": (1, 1, _fn_select),
    "empty": (0, 0, _fn_empty),
    "not": (0, 0, _fn_not),
    "first": (0, 0, _slice("1", "1")),
    "last": (0, 0, _slice("-1", "-1")),
    "tail": (0, 0, _slice("2", "2147483647")),
    "skip": (1, 1, _counted_slice(take=False)),
    "take": (1, 1, _counted_slice(take=True)),
    "single": (0, 0, _fn_single),
    "count": (0, 0, _fn_count),
    "distinct": (0, 0, _fn_distinct),
    "join": (0, 1, _fn_join),
    "ofType": (1, 1, _fn_of_type),
    "as": (1, 1, _fn_of_type),
    "extension": (1, 1, _fn_extension),
    "getResourceKey": (0, 0, _fn_resource_key),
    "getReferenceKey": (0, 1, _fn_reference_key),
    "iif": (2, 3, _fn_iif),
    "hasValue": (0, 0, _fn_has_value),
    "lowBoundary": (0, 0, _boundary(low=True)),
    "highBoundary": (0, 0, _boundary(low=False)),
    "toString": (0, 0, _fn_to_string),
    "toInteger": (0, 0, _converter("sof_to_bigint", "integer")),
    "toDecimal": (0, 0, _converter("sof_to_double", "decimal")),
    "lower": (0, 0, _string_fn("string", lambda t, n, s, x: f"lower({x})")),
    "upper": (0, 0, _string_fn("string", lambda t, n, s, x: f"upper({x})")),
    "trim": (0, 0, _string_fn("string", lambda t, n, s, x: f"trim({x})")),
    "length": (0, 0, _string_fn("integer", lambda t, n, s, x: f"length({x})")),
    "startsWith": (
        1,
        1,
        _string_fn("boolean", lambda t, n, s, x: f"starts_with({x}, {_text_arg(t, n, s, 0)})"),
    ),
    "endsWith": (
        1,
        1,
        _string_fn("boolean", lambda t, n, s, x: f"ends_with({x}, {_text_arg(t, n, s, 0)})"),
    ),
    "contains": (
        1,
        1,
        _string_fn("boolean", lambda t, n, s, x: f"contains({x}, {_text_arg(t, n, s, 0)})"),
    ),
    "matches": (
        1,
        1,
        _string_fn(
            "boolean", lambda t, n, s, x: f"regexp_full_match({x}, {_text_arg(t, n, s, 0)})"
        ),
    ),
    "replace": (
        2,
        2,
        _string_fn(
            "string",
            lambda t, n, s, x: f"replace({x}, {_text_arg(t, n, s, 0)}, {_text_arg(t, n, s, 1)})",
        ),
    ),
}


def translate(node: Node, scope: Scope) -> Expr:
    """Translate a parsed FHIRPath expression evaluated against ``scope``."""
    return _Translator().translate(node, scope)
