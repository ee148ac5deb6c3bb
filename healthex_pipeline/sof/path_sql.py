"""Translate a FHIRPath syntax tree into a DuckDB SQL expression.

Every FHIRPath collection becomes a ``JSON[]`` expression, so a FHIR element that is a single
value in one FHIR version and an array in another navigates the same way. Boolean-valued
operators are kept as plain SQL ``BOOLEAN`` (NULL = empty) until a collection is needed, which
gives FHIRPath's three-valued logic for free. Only SQL text is produced here; nothing is
evaluated per resource in Python.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

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

INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "integer64"})
_ARITHMETIC = {"+": "sof_add", "-": "sof_sub", "*": "sof_mul", "/": "sof_div"}
_ARITHMETIC |= {"div": "sof_intdiv", "mod": "sof_mod", "&": "sof_concat"}
_COMPARISONS = frozenset({"<", "<=", ">", ">="})


def sql_string(text: str) -> str:
    """Quote ``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_literal(value: Any) -> str:
    """A SQL ``JSON`` literal holding ``value``."""
    return f"{sql_string(json.dumps(value, ensure_ascii=False))}::JSON"


def json_path(name: str) -> str:
    """The DuckDB JSON path selecting member ``name`` of an object."""
    return sql_string('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')


@dataclass(frozen=True, slots=True)
class Expr:
    """A translated expression: a ``JSON[]`` collection or a nullable SQL BOOLEAN."""

    sql: str
    kind: Literal["coll", "bool"] = "coll"
    fhir_type: str | None = None

    def coll(self) -> str:
        """SQL of this expression as a ``JSON[]`` collection."""
        return self.sql if self.kind == "coll" else f"sof_of_bool({self.sql})"

    def boolean(self) -> str:
        """SQL of this expression as a nullable BOOLEAN (FHIRPath singleton evaluation)."""
        return self.sql if self.kind == "bool" else f"sof_bool({self.sql})"


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

    def fresh(self) -> str:
        """A lambda variable name unique within the whole compiled view."""
        return f"_v{next(self.names)}"


def _bool(sql: str) -> Expr:
    return Expr(sql, "bool", "boolean")


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
        return f"json_type({v}) = 'BOOLEAN'"
    if type_name in INTEGER_TYPES:
        return f"json_type({v}) IN ('BIGINT', 'UBIGINT')"
    if type_name == "decimal":
        return f"sof_is_num({v})"
    if type_name[:1].islower():
        return f"json_type({v}) = 'VARCHAR'"
    resource_type = f"json_extract_string({v}, '$.resourceType')"
    return (
        f"json_type({v}) = 'OBJECT' AND coalesce({resource_type}, {sql_string(type_name)})"
        f" = {sql_string(type_name)}"
    )


class _Translator:
    """Stateless dispatcher from AST nodes to SQL; the scope carries all context."""

    def translate(self, node: Node, scope: Scope) -> Expr:
        match node:
            case LiteralNode():
                return self.literal(node)
            case EmptyLiteral():
                return Expr("[]::JSON[]")
            case Member(base=None, name=name) if name == scope.resource_type:
                return Expr(scope.this)
            case Member(base=base, name=name):
                focus = scope.this if base is None else self.translate(base, scope).coll()
                return Expr(f"sof_nav({focus}, {json_path(name)})")
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
            return Expr(scope.this)
        if name == "index" and scope.index is not None:
            return Expr(f"[to_json({scope.index})]", fhir_type="integer")
        raise ViewDefinitionError(f"${name} is not supported here")

    @staticmethod
    def constant(name: str, scope: Scope) -> Expr:
        if name == "rowIndex":
            return Expr(f"[to_json({scope.row_index})]", fhir_type="integer")
        if name in ("resource", "rootResource"):
            return Expr(f"[{scope.resource}]")
        if name not in scope.constants:
            raise ViewDefinitionError(f"undefined constant %{name}")
        return scope.constants[name]

    def indexer(self, base: Expr, index: Node, scope: Scope) -> Expr:
        if isinstance(index, LiteralNode) and index.kind == "integer":
            position = str(int(index.text) + 1)
        else:
            position = f"(sof_to_bigint(sof_single({self.translate(index, scope).coll()})) + 1)"
        return Expr(
            f"list_slice({base.coll()}, greatest({position}, 1), {position})",
            fhir_type=base.fhir_type,
        )

    def binary(self, node: Binary, scope: Scope) -> Expr:
        left = self.translate(node.left, scope)
        right = self.translate(node.right, scope)
        op = node.op
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
            parent = (
                scope.this if operand.base is None else self.translate(operand.base, scope).coll()
            )
            choice = operand.name + type_name[:1].upper() + type_name[1:]
            plain = f"sof_nav({parent}, {json_path(operand.name)})"
            filtered = f"list_filter({plain}, lambda {v}: {_kind_test(type_name, v)})"
            return Expr(
                f"list_concat(sof_nav({parent}, {json_path(choice)}), {filtered})",
                fhir_type=fhir_type,
            )
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

    def base(self, node: Call, scope: Scope) -> Expr:
        """The input collection of a function call (the focus when written bare)."""
        return Expr(scope.this) if node.base is None else self.translate(node.base, scope)

    def predicate(self, node: Call, scope: Scope) -> tuple[str, str]:
        """Input collection SQL and a lambda ``v, i: <criteria as BOOLEAN>`` over its items."""
        base = self.base(node, scope).coll()
        v, i = scope.fresh(), scope.fresh()
        inner = replace(scope, this=f"[{v}]", index=f"({i} - 1)")
        criteria = self.translate(node.args[0], inner).boolean()
        return base, f"lambda {v}, {i}: coalesce({criteria}, false)"

    def single_arg(self, node: Call, position: int, scope: Scope) -> str:
        """An argument evaluated against the call's focus, as one JSON item (or NULL)."""
        return f"sof_single({self.translate(node.args[position], scope).coll()})"


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
    return Expr(f"list_filter({base}, {criteria})", fhir_type=t.base(node, scope).fhir_type)


def _fn_exists(t: _Translator, node: Call, scope: Scope) -> Expr:
    if not node.args:
        return _bool(f"(len({t.base(node, scope).coll()}) > 0)")
    base, criteria = t.predicate(node, scope)
    return _bool(f"(len(list_filter({base}, {criteria})) > 0)")


def _fn_all(t: _Translator, node: Call, scope: Scope) -> Expr:
    base, criteria = t.predicate(node, scope)
    return _bool(f"coalesce(list_bool_and(list_transform({base}, {criteria})), true)")


def _fn_select(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    v, i = scope.fresh(), scope.fresh()
    inner = replace(scope, this=f"[{v}]", index=f"({i} - 1)")
    projection = t.translate(node.args[0], inner)
    return Expr(
        f"flatten(list_transform({base}, lambda {v}, {i}: {projection.coll()}))",
        fhir_type=projection.fhir_type,
    )


def _fn_empty(t: _Translator, node: Call, scope: Scope) -> Expr:
    return _bool(f"(len({t.base(node, scope).coll()}) = 0)")


def _fn_not(t: _Translator, node: Call, scope: Scope) -> Expr:
    return _bool(f"(NOT {t.base(node, scope).boolean()})")


def _slice(start: str, end: str) -> _Handler:
    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = t.base(node, scope)
        return Expr(f"list_slice({base.coll()}, {start}, {end})", fhir_type=base.fhir_type)

    return handler


def _counted_slice(take: bool) -> _Handler:
    def handler(t: _Translator, node: Call, scope: Scope) -> Expr:
        base = t.base(node, scope)
        count = f"coalesce(sof_to_bigint({t.single_arg(node, 0, scope)}), 0)"
        bounds = f"1, {count}" if take else f"greatest({count}, 0) + 1, 2147483647"
        return Expr(f"list_slice({base.coll()}, {bounds})", fhir_type=base.fhir_type)

    return handler


def _fn_single(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope)
    return Expr(f"sof_wrap(sof_single({base.coll()}))", fhir_type=base.fhir_type)


def _fn_count(t: _Translator, node: Call, scope: Scope) -> Expr:
    return Expr(f"[to_json(len({t.base(node, scope).coll()}))]", fhir_type="integer")


def _fn_distinct(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope)
    return Expr(f"list_distinct({base.coll()})", fhir_type=base.fhir_type)


def _fn_join(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    separator = "''"
    if node.args:
        # DuckDB needs a constant separator, so only a string literal is accepted.
        arg = node.args[0]
        if not (isinstance(arg, LiteralNode) and arg.kind == "string"):
            raise ViewDefinitionError("join() separator must be a string literal")
        separator = sql_string(arg.text)
    v = scope.fresh()
    texts = f"list_transform({base}, lambda {v}: sof_text({v}))"
    return Expr(f"[to_json(array_to_string({texts}, {separator}))]", fhir_type="string")


def _fn_of_type(t: _Translator, node: Call, scope: Scope) -> Expr:
    type_name = _type_name(node.args[0], f"{node.name}()")
    operand = node.base if node.base is not None else Variable("this")
    return t.of_type(operand, type_name, scope)


def _fn_extension(t: _Translator, node: Call, scope: Scope) -> Expr:
    extensions = f"sof_nav({t.base(node, scope).coll()}, {json_path('extension')})"
    url = t.single_arg(node, 0, scope)
    v = scope.fresh()
    return Expr(
        f"list_filter({extensions}, lambda {v}: sof_item_eq(json_extract({v}, '$.url'), {url}))"
    )


def _fn_resource_key(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    return Expr(_map_items(base, scope, lambda v: f"json_extract({v}, '$.id')"), fhir_type="id")


def _fn_reference_key(t: _Translator, node: Call, scope: Scope) -> Expr:
    base = t.base(node, scope).coll()
    wanted = sql_string(_type_name(node.args[0], "getReferenceKey()")) if node.args else "NULL"
    return Expr(_map_items(base, scope, lambda v: f"sof_ref_key({v}, {wanted})"), fhir_type="id")


def _fn_iif(t: _Translator, node: Call, scope: Scope) -> Expr:
    inner = scope if node.base is None else replace(scope, this=t.base(node, scope).coll())
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
