"""Checks shared by the contracts: timestamp plausibility, code systems, presence of a value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import pandera.polars as pa
import polars as pl

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)

SNOMED_CT = "http://snomed.info/sct"
ICD_10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"


def not_in_future(data: pa.PolarsData) -> pl.LazyFrame:
    """Flag timestamps after the moment of validation: a clinical event cannot lie ahead."""
    return data.lazyframe.select(pl.col(data.key) <= dt.datetime.now(dt.UTC))


def not_before_1900(data: pa.PolarsData) -> pl.LazyFrame:
    """Flag timestamps before 1900, which in practice are parse or default-value artefacts."""
    return data.lazyframe.select(pl.col(data.key) >= EARLIEST)


def in_code_systems(data: pa.PolarsData, column: str, systems: Collection[str]) -> pl.LazyFrame:
    """Flag rows whose code system (``column``) is absent or not one of ``systems``."""
    return data.lazyframe.select(pl.col(column).is_in(list(systems)).fill_null(value=False))


def any_present(data: pa.PolarsData, *columns: str) -> pl.LazyFrame:
    """Flag rows where every one of ``columns`` is null."""
    return data.lazyframe.select(pl.any_horizontal(pl.col(c).is_not_null() for c in columns))
