"""Turn pandera's lazy-validation failure cases into per-row labels that carry no cell values.

The polars backend reports every data-level failure with the input's row number (``index``)
and schema-level ones (missing or extra column, wrong dtype) with a null ``index``. Labels are
built only from the column and the check name, never from ``failure_case``, which holds values.
Warn-level checks are reported like the rest (see ``severity``); callers sort labels by severity.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrors

from data_contracts.severity import enforcing_schema

ROW = "__contract_row"
LABEL = "label"
_COLUMN_PRESENCE_CHECKS = ("column_in_dataframe", "column_in_schema")


class ContractSchemaError(ValueError):
    """The frame lacks the table's columns or dtypes: a pipeline bug, not bad source data."""


def _failure_cases(model: type[pa.DataFrameModel], df: pl.DataFrame) -> pl.DataFrame | None:
    """Validate lazily with every check enabled (whatever the environment says), warn ones too."""
    with config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            enforcing_schema(model).validate(df, lazy=True)
        except SchemaErrors as errors:
            return errors.failure_cases
    return None


def _schema_problem(case: dict[str, object], df: pl.DataFrame) -> str:
    """Describe one schema-level failure by column and check (plus the dtype actually found)."""
    check = str(case["check"])
    if check in _COLUMN_PRESENCE_CHECKS:
        return f"{case['failure_case']}: {check}"
    column = str(case["column"])
    if check.startswith("dtype(") and column in df.schema:
        return f"{column}: {check}, found {df.schema[column]}"
    return f"{column}: {check}"


def row_failures(table: str, model: type[pa.DataFrameModel], df: pl.DataFrame) -> pl.DataFrame:
    """Return distinct ``(ROW, LABEL)`` pairs, LABEL being ``"<column>: <check name>"``.

    Row-level (dataframe) checks report the table name as their column.

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
    """
    cases = _failure_cases(model, df)
    if cases is None:
        return pl.DataFrame(schema={ROW: pl.UInt32, LABEL: pl.String})
    schema_level = cases.filter(pl.col("index").is_null())
    if schema_level.height:
        problems = {_schema_problem(case, df) for case in schema_level.iter_rows(named=True)}
        raise ContractSchemaError(
            f"{table}: frame does not match the contract: {'; '.join(sorted(problems))}"
        )
    # Built-in checks are reported as "name(arguments)"; the name alone identifies the check.
    check_name = pl.col("check").str.split("(").list.first()
    return cases.select(
        pl.col("index").cast(pl.UInt32).alias(ROW),
        pl.format("{}: {}", pl.col("column"), check_name).alias(LABEL),
    ).unique()
