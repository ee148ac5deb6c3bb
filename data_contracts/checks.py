"""Plausibility checks on clinical timestamps, shared by the models that declare them."""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def not_in_future(data: pa.PolarsData) -> pl.LazyFrame:
    """Flag timestamps after the moment of validation: a clinical event cannot lie ahead."""
    return data.lazyframe.select(pl.col(data.key) <= dt.datetime.now(dt.UTC))


def not_before_1900(data: pa.PolarsData) -> pl.LazyFrame:
    """Flag timestamps before 1900, which in practice are parse or default-value artefacts."""
    return data.lazyframe.select(pl.col(data.key) >= EARLIEST)
