"""The curated tables' contracts and the two calls the pipeline makes with them."""

from __future__ import annotations

from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from data_contracts.allergies import Allergies
from data_contracts.clinical_notes import ClinicalNotes
from data_contracts.conditions import Conditions
from data_contracts.encounters import Encounters
from data_contracts.failures import LABEL, ROW, row_failures
from data_contracts.immunizations import Immunizations
from data_contracts.lab_results import LabResults
from data_contracts.medications import Medications
from data_contracts.patients import Patients
from data_contracts.procedures import Procedures
from data_contracts.provenance import PROVENANCE_COLUMNS
from data_contracts.quarantine import Quarantine

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
}


@dataclass(frozen=True)
class ContractReport:
    """How many rows a table has, how many fail, and how often each ``"column: check"`` fails."""

    rows: int
    failing_rows: int
    failures: dict[str, int]


def _failures(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Validate ``df`` against the table's contract; unknown table names fail loudly."""
    if table not in CONTRACTS:
        raise KeyError(f"no data contract for table {table!r}; known: {sorted(CONTRACTS)}")
    return row_failures(table, CONTRACTS[table], df)


def split_valid(table: str, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into rows that satisfy the contract and one rejection row per failing row.

    Rejections keep the input's provenance columns plus ``reason``: the failed
    ``"<column>: <check>"`` labels, sorted and joined with ``"; "``, never a cell value.

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
        KeyError: ``table`` has no contract.
    """
    reasons = (
        _failures(table, df).group_by(ROW).agg(pl.col(LABEL).sort().str.join("; ").alias("reason"))
    )
    row_number = pl.int_range(pl.len(), dtype=pl.UInt32)
    good = df.filter(~row_number.is_in(reasons[ROW].implode()))
    provenance = [column for column in PROVENANCE_COLUMNS if column in df.columns]
    rejected = (
        df.select(provenance)
        .with_row_index(ROW)
        .join(reasons, on=ROW, how="inner")
        .sort(ROW)
        .drop(ROW)
    )
    return good, rejected


def validate_table(table: str, df: pl.DataFrame) -> ContractReport:
    """Summarise contract failures of ``df`` without splitting it (for run metadata and alerts).

    Raises:
        ContractSchemaError: the frame's columns or dtypes do not match the contract.
        KeyError: ``table`` has no contract.
    """
    failures = _failures(table, df)
    per_label = failures.group_by(LABEL).len()
    return ContractReport(
        rows=df.height,
        failing_rows=failures[ROW].n_unique(),
        failures=dict(zip(per_label[LABEL].to_list(), per_label["len"].to_list(), strict=True)),
    )
