"""Row-level let-bindings: each sub-expression that depends only on the resource is computed once.

DuckDB re-evaluates an expression wherever its SQL text appears, and every JSON function call
parses its JSON argument again. Inlined FHIRPath therefore re-parsed the whole resource for every
step of every column. Here, a collection that does not depend on a lambda variable becomes a
column (``_sof_b<n>``) of a projection layer, memoized by its SQL text, so shared prefixes
(``code.coding`` used by five columns) are computed once per resource. Member navigation is
planned as a tree: the resource is parsed once into the top-level elements the view reads
(``_sof_top``), and a collection with several navigated children is parsed once per item into
all of them (``_sof_k<n>``).

Only expressions that cannot raise are bound: a binding is evaluated for every row, including
rows where the original expression sat in an untaken branch. (A typed read's assumption check,
``sof_assume``, may be: when it fails, the run is redone on the JSON path, so failing early
costs time, never a result.)

Typed reads (shapes.py) navigate STRUCT columns without parsing; their collections are bound the
same way, and ``nav`` below serves the JSON path only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from healthex_pipeline.sof.path_sql import ROOT_FIELDS
from healthex_pipeline.sof.sql_text import json_path

_BOUND = re.compile(r"\b_sof_[bk][0-9]+\b")
# Macros and functions that can raise on some input: never evaluated eagerly.
_RAISING = (
    "error(",
    "sof_single(",
    "sof_one_item(",
    "sof_bool(",
    "sof_where_bool(",
    "sof_cmp(",
    "sof_date_high(",
    "sof_datetime_high(",
)
_LAMBDA_VARIABLE = re.compile(r"\b_v[0-9]+\b")


@dataclass
class _Binding:
    """One bound column: its SQL (filled in at the end for navigation) and filter stage."""

    sql: str | None
    stage: int
    parent: str | None = None
    member: str | None = None


class RowBindings:
    """The bindings of one compiled view, in creation order."""

    def __init__(self, names: Iterator[int]) -> None:
        self._names = names
        self._bindings: dict[str, _Binding] = {}
        self._by_sql: dict[str, str] = {}
        self._navs: dict[tuple[str, str], str] = {}
        # 0 while the view's where is compiled (computed before the filter), then 1.
        self.stage = 0

    def _new(self, prefix: str, binding: _Binding) -> str:
        name = f"_sof_{prefix}{next(self._names)}"
        self._bindings[name] = binding
        return name

    def is_bound(self, sql: str) -> bool:
        """Whether ``sql`` is the name of a binding."""
        return sql in self._bindings

    @staticmethod
    def bindable(sql: str) -> bool:
        """Worth binding (calls a function) and safe to evaluate eagerly (cannot raise)."""
        return "(" in sql and not any(marker in sql for marker in _RAISING)

    def bind(self, sql: str) -> str:
        """The name of a column holding ``sql`` (the same name for the same SQL).

        Lambda variables are renamed in order of appearance for the lookup, so the same path
        written in two columns (translated with different fresh names) is bound once.
        """
        renamed: dict[str, str] = {}
        key = _LAMBDA_VARIABLE.sub(
            lambda m: renamed.setdefault(m.group(), f"_l{len(renamed)}"), sql
        )
        if key not in self._by_sql:
            self._by_sql[key] = self._new("b", _Binding(sql, self.stage))
        return self._by_sql[key]

    def nav(self, parent: str, member: str) -> str:
        """The collection of ``member`` children of ``parent`` (a binding, or ROOT_FIELDS)."""
        key = (parent, member)
        if key not in self._navs:
            self._navs[key] = self._new("b", _Binding(None, self.stage, parent, member))
        return self._navs[key]

    def _deps(self, name: str) -> list[str]:
        """Bindings ``name`` reads: from its SQL, or its parent while navigation is unplanned."""
        binding = self._bindings[name]
        if binding.sql is None:
            return [binding.parent] if binding.parent not in (None, ROOT_FIELDS) else []
        return [d for d in _BOUND.findall(binding.sql) if d != name]

    def plan(self, used_by: Iterable[str]) -> Plan:
        """Layers of the bindings the SQL texts ``used_by`` need (directly or not).

        Navigation SQL is written here, once each parent's used children are known: the
        resource's top-level elements are one ``json_extract`` with a list of paths, and a
        collection with several children is parsed once per item into all of them.
        """
        used: set[str] = set()
        pending = [d for sql in used_by for d in _BOUND.findall(sql)]
        while pending:
            name = pending.pop()
            if name not in used:
                used.add(name)
                pending.extend(self._deps(name))
        children: dict[str, list[str]] = {ROOT_FIELDS: ["resourceType"]}
        for (parent, member), name in self._navs.items():
            if name in used and member not in children.setdefault(parent, []):
                children[parent].append(member)
        extractions: dict[str, str] = {}
        for (parent, member), name in self._navs.items():
            if name not in used:
                continue
            position = children[parent].index(member) + 1
            binding = self._bindings[name]
            if parent == ROOT_FIELDS:
                binding.sql = f"sof_field({ROOT_FIELDS}[{position}])"
            elif len(children[parent]) == 1:
                binding.sql = f"sof_nav({parent}, {json_path(member)})"
            else:
                if parent not in extractions:
                    extractions[parent] = self._extraction(parent, children[parent])
                    used.add(extractions[parent])
                item = f"_v{next(self._names)}"
                binding.sql = (
                    f"flatten(list_transform({extractions[parent]},"
                    f" lambda {item}: sof_field({item}[{position}])))"
                )
        return Plan(children[ROOT_FIELDS], self._layers(used, 0), self._layers(used, 1))

    def _extraction(self, parent: str, members: list[str]) -> str:
        """A binding parsing each item of ``parent`` once into its ``members``' values."""
        stage = min(self._bindings[self._navs[parent, m]].stage for m in members)
        item = f"_v{next(self._names)}"
        paths = ", ".join(json_path(m) for m in members)
        sql = f"list_transform({parent}, lambda {item}: json_extract({item}, [{paths}]))"
        return self._new("k", _Binding(sql, stage))

    def _layers(self, used: set[str], stage: int) -> list[list[tuple[str, str]]]:
        levels: dict[str, int] = {}

        def level(name: str) -> int:
            if name not in levels:
                stage_of = self._bindings[name].stage
                own = [d for d in self._deps(name) if self._bindings[d].stage == stage_of]
                levels[name] = 1 + max((level(d) for d in own), default=0)
            return levels[name]

        grouped: dict[int, list[tuple[str, str]]] = {}
        for name, binding in self._bindings.items():
            if name in used and binding.stage == stage and binding.sql is not None:
                grouped.setdefault(level(name), []).append((name, binding.sql))
        return [grouped[k] for k in sorted(grouped)]


@dataclass(frozen=True, slots=True)
class Plan:
    """What the compiled SELECT computes before its rows: top-level fields, then layers."""

    root_fields: list[str]
    before_where: list[list[tuple[str, str]]]
    after_where: list[list[tuple[str, str]]]
