"""Contract of ``clinical_notes``: DocumentReferences and DiagnosticReports with a document."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import any_present, not_before_1900, not_in_future
from data_contracts.provenance import SHA256_PATTERN, Provenance, UtcDatetime

NOTE_RESOURCE_TYPES = ("DocumentReference", "DiagnosticReport")
CONTENT_SOURCES = ("inline", "url")


class ClinicalNotes(Provenance):
    """A note or report document: type, date, author, and its attachment decoded or described."""

    resource_type: str = pa.Field(isin=NOTE_RESOURCE_TYPES)
    status: str = pa.Field(nullable=True)
    note_type_code: str = pa.Field(nullable=True)
    note_type_system: str = pa.Field(nullable=True)
    note_type_display: str = pa.Field(nullable=True)
    note_date: UtcDatetime = pa.Field(nullable=True)
    author_display: str = pa.Field(nullable=True)
    content_type: str = pa.Field(nullable=True)
    content_source: str = pa.Field(isin=CONTENT_SOURCES, nullable=True)
    content_size_bytes: int = pa.Field(ge=0, nullable=True)
    content_sha256: str = pa.Field(str_matches=SHA256_PATTERN, nullable=True)
    text: str = pa.Field(nullable=True)
    text_truncated: bool = pa.Field(nullable=True)
    text_limit_bytes: int = pa.Field(gt=0)
    attachment_count: int = pa.Field(ge=0)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table: row-level failures read ``clinical_notes: <check>``."""

        name = "clinical_notes"

    @pa.check("note_date", name="not_in_future")
    @classmethod
    def _date_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("note_date", name="not_before_1900")
    @classmethod
    def _date_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="text_within_limit")
    @classmethod
    def _text_within_limit(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Decoded text never exceeds the recorded limit (in UTF-8 bytes)."""
        return data.lazyframe.select(
            (pl.col("text").str.len_bytes() <= pl.col("text_limit_bytes")).fill_null(value=True)
        )

    @pa.dataframe_check(name="text_only_from_inline_data")
    @classmethod
    def _text_from_inline(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Text exists only where an inline attachment was decoded, with its size and hash."""
        return data.lazyframe.select(
            pl.col("text").is_null()
            | (
                (pl.col("content_source") == "inline")
                & pl.col("content_sha256").is_not_null()
                & pl.col("text_truncated").is_not_null()
            )
        )

    @pa.dataframe_check(name="text_not_truncated", raise_warning=True)
    @classmethod
    def _text_not_truncated(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a note cut at the size limit reaches readers incomplete."""
        return data.lazyframe.select(~pl.col("text_truncated").fill_null(value=False))

    @pa.dataframe_check(name="has_content_type", raise_warning=True)
    @classmethod
    def _has_content_type(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: without a content type the attachment is never decoded, only sized and hashed."""
        return any_present(data, "content_type")
