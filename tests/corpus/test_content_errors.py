"""Engine errors raised by FHIR content carry resource type, position and reason only."""

from __future__ import annotations

import duckdb
import pytest

from healthex_pipeline.quarantine import ContentError, content_reason

SECRET = "Jane Q. Example 1970-01-01"


def _engine_error() -> duckdb.Error:
    con = duckdb.connect()
    try:
        con.execute("SELECT ?::DATE", [SECRET])
    except duckdb.Error as exc:
        assert SECRET in str(exc)  # the engine quotes the value; that is the point
        return exc
    raise AssertionError("the cast was expected to fail")


def test_content_reason_names_the_error_class_not_its_message() -> None:
    assert content_reason(_engine_error()) == "engine error (ConversionException)"


def test_content_error_drops_the_value_and_the_cause() -> None:
    error = _engine_error()
    with pytest.raises(ContentError) as raised:
        try:
            raise error
        except duckdb.Error as exc:
            raise ContentError("Observation", "staging view observation", exc) from None
    assert str(raised.value) == (
        "Observation at staging view observation: engine error (ConversionException)"
    )
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__
