from __future__ import annotations

import datetime as dt

from data_contracts.registry import split_valid
from tests.contracts.frames import (
    SENTINEL,
    assert_only_row_rejected,
    assert_only_warning,
    good_frame,
    with_cell,
)

TABLE = "clinical_notes"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_diagnostic_report_is_a_note_too() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", "DiagnosticReport")

    assert split_valid(TABLE, df)[1].is_empty()


def test_other_resource_type_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: isin")


def test_text_longer_than_the_limit_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "text_limit_bytes", 4)

    assert_only_row_rejected(TABLE, df, 0, "clinical_notes: text_within_limit")


def test_text_without_decoded_inline_data_rejected() -> None:
    df = with_cell(good_frame(TABLE), 2, "content_source", "url")

    assert_only_row_rejected(TABLE, df, 2, "clinical_notes: text_only_from_inline_data")


def test_content_hash_must_be_sha256_hex() -> None:
    df = with_cell(good_frame(TABLE), 1, "content_sha256", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "content_sha256: str_matches")


def test_url_only_attachment_without_text_kept() -> None:
    df = good_frame(TABLE)
    changes = {
        "content_source": "url",
        "content_type": "application/pdf",
        "content_sha256": None,
        "content_size_bytes": None,
        "text": None,
        "text_truncated": None,
    }
    for column, value in changes.items():
        df = with_cell(df, 1, column, value)

    assert split_valid(TABLE, df)[1].is_empty()


def test_future_note_date_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "note_date", future)

    assert_only_row_rejected(TABLE, df, 1, "note_date: not_in_future", sentinel="2987")


def test_truncated_text_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "text_truncated", True)

    assert_only_warning(TABLE, df, "clinical_notes: text_not_truncated")


def test_note_without_content_type_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "content_type", None)

    assert_only_warning(TABLE, df, "clinical_notes: has_content_type")
