"""Rule severity: which of a contract's checks quarantine rows and which only count them.

A check is warn-level when it is declared with pandera's own ``raise_warning=True``
(``@pa.dataframe_check(name=..., raise_warning=True)``, ``@pa.check(...)``, ``pa.Field(...)``);
every other check, and every column's nullability, is error-level. Pandera would turn a warn
check's failures into a ``SchemaWarning`` whose message quotes failing values, so contracts are
never validated as declared: ``enforcing_schema`` makes warn checks fail like the rest (their
rows are then reported by row number), and the caller sorts failures by severity.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from functools import cache

import pandera.polars as pa
from pandera.api.checks import Check


class Severity(StrEnum):
    """Error-level failures quarantine the row; warn-level ones let it land and are counted."""

    ERROR = "error"
    WARN = "warn"


NOT_NULLABLE = "not_nullable"
"""Pandera's name for the nullability check every non-nullable column implies."""


def check_name(check: Check) -> str:
    """The name pandera reports a check's failures under, without a built-in's arguments."""
    identifier = check.error if check.error is not None else check.name or str(check)
    return identifier.split("(")[0]


@cache
def declared_rules(model: type[pa.DataFrameModel]) -> dict[str, Severity]:
    """Every ``"<column>: <check>"`` rule of a contract and its severity.

    Row-level (dataframe) checks carry the schema's name, the table, as their column.

    Raises:
        ValueError: one rule is declared at both severities (their failures could not be told
            apart, as failures are reported by name).
    """
    schema = model.to_schema()
    declared: list[tuple[str, Check]] = [
        (f"{name}: {check_name(check)}", check)
        for name, column in schema.columns.items()
        for check in column.checks
    ] + [(f"{schema.name}: {check_name(check)}", check) for check in schema.checks or []]
    rules = {
        f"{name}: {NOT_NULLABLE}": Severity.ERROR
        for name, column in schema.columns.items()
        if not column.nullable
    }
    for label, check in declared:
        severity = Severity.WARN if check.raise_warning else Severity.ERROR
        if rules.setdefault(label, severity) != severity:
            raise ValueError(f"{schema.name}: rule {label!r} declared as both error and warn")
    return rules


def _enforced(checks: list[Check]) -> list[Check]:
    enforced = copy.deepcopy(checks)
    for check in enforced:
        check.raise_warning = False
    return enforced


@cache
def enforcing_schema(model: type[pa.DataFrameModel]) -> pa.DataFrameSchema:
    """The contract's schema with its warn checks failing like the rest, row by row, silently."""
    schema = copy.deepcopy(model.to_schema())
    for column in schema.columns.values():
        column.checks = _enforced(column.checks)
    schema.checks = _enforced(schema.checks or [])
    return schema
