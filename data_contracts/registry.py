"""The warehouse tables' contracts and the calls the pipeline makes with them."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from data_contracts.allergies import Allergies
from data_contracts.clinical_notes import ClinicalNotes
from data_contracts.conditions import Conditions
from data_contracts.data_quality import DataQuality
from data_contracts.encounters import Encounters
from data_contracts.failures import LABEL, ROW, row_failures
from data_contracts.immunizations import Immunizations
from data_contracts.lab_results import LabResults
from data_contracts.medications import Medications
from data_contracts.patients import Patients
from data_contracts.procedures import Procedures
from data_contracts.provenance import PROVENANCE_COLUMNS
from data_contracts.quarantine import Quarantine
from data_contracts.severity import Severity, declared_rules

CONTRACTS: dict[str, type[pa.DataFrameModel]] = {
    "lab_results": LabResults,
    "medications": Medications,
    "immunizations": Immunizations,
    "encounters": Encounters,
    "conditions": Conditions,
    "procedures": Procedures,
    "allergies": Allergies,
    "clinical_notes": ClinicalNotes,
    "patients": Patients,
    "quarantine": Quarantine,
    "data_quality": DataQuality,
}


@dataclass(frozen=True)
class ContractSplit:
    """Rows by fate, and per rule how many rows it checked and how many failed it.

    Error-level rules check every input row, and the rows failing any of them are rejected;
    warn-level rules are counted on the rows that land (``good``), which keep their warnings.
    ``rules`` has one row per rule: ``rule``, ``severity``, ``rows_checked``, ``rows_failing``.
    """

    good: pl.DataFrame
    rejected: pl.DataFrame
    warned_rows: int
    rules: pl.DataFrame


@dataclass(frozen=True)
class ContractReport:
    """Rows, rows failing error rules (per failing rule) and warnings (per warn rule, zeros too)."""

    rows: int
    failing_rows: int
    failures: dict[str, int]
    warning_rows: int
    warnings: dict[str, int]


def apply_contract(table: str, df: pl.DataFrame) -> ContractSplit:
    """Split ``df`` by its table's contract and count every rule's failing rows.

    Rejections keep the input's provenance columns plus ``reason``: the failed error-level
    ``"<column>: <check>"`` labels, sorted and joined with ``"; "``, never a cell value.

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
        KeyError: ``table`` has no contract.
    """
    if table not in CONTRACTS:
        raise KeyError(f"no data contract for table {table!r}; known: {sorted(CONTRACTS)}")
    model = CONTRACTS[table]
    declared = {label: severity.value for label, severity in declared_rules(model).items()}
    failures = row_failures(table, model, df).with_columns(
        pl.col(LABEL).replace_strict(declared, default=Severity.ERROR.value).alias("severity")
    )
    errors = failures.filter(pl.col("severity") == Severity.ERROR.value)
    reasons = errors.group_by(ROW).agg(pl.col(LABEL).sort().str.join("; ").alias("reason"))
    rejected_rows = reasons[ROW].implode()
    good = df.filter(~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(rejected_rows))
    warnings = failures.filter(
        (pl.col("severity") == Severity.WARN.value) & ~pl.col(ROW).is_in(rejected_rows)
    )
    provenance = [column for column in PROVENANCE_COLUMNS if column in df.columns]
    rejected = (
        df.select(provenance)
        .with_row_index(ROW)
        .join(reasons, on=ROW, how="inner")
        .sort(ROW)
        .drop(ROW)
    )
    # Rules pandera reports without declaring them (none today) count as error-level.
    observed = {label: Severity.ERROR.value for label in failures[LABEL].unique()}
    rules = (
        pl.DataFrame(list((observed | declared).items()), schema=["rule", "severity"], orient="row")
        .join(
            pl.concat([errors, warnings]).group_by(LABEL).len().rename({LABEL: "rule"}),
            on="rule",
            how="left",
        )
        .select(
            "rule",
            "severity",
            pl.when(pl.col("severity") == Severity.WARN.value)
            .then(good.height)
            .otherwise(df.height)
            .cast(pl.Int64)
            .alias("rows_checked"),
            pl.col("len").fill_null(0).cast(pl.Int64).alias("rows_failing"),
        )
        .sort("severity", "rule")
    )
    return ContractSplit(good, rejected, warnings[ROW].n_unique(), rules)


def split_valid(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows that land (warnings and all) and one rejection row per row failing an error rule.

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
        KeyError: ``table`` has no contract.
    """
    split = apply_contract(table, df)
    return split.good, split.rejected


def validate_table(table: str, df: pl.DataFrame) -> ContractReport:
    """Summarise contract failures of ``df`` without splitting it (for run metadata and alerts).

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
        KeyError: ``table`` has no contract.
    """
    split = apply_contract(table, df)
    errors = split.rules.filter(
        (pl.col("severity") == Severity.ERROR.value) & (pl.col("rows_failing") > 0)
    )
    warnings = split.rules.filter(pl.col("severity") == Severity.WARN.value)
    return ContractReport(
        rows=df.height,
        failing_rows=split.rejected.height,
        failures=dict(zip(errors["rule"].to_list(), errors["rows_failing"].to_list(), strict=True)),
        warning_rows=split.warned_rows,
        warnings=dict(
            zip(warnings["rule"].to_list(), warnings["rows_failing"].to_list(), strict=True)
        ),
    )
