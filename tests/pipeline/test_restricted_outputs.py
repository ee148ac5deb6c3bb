"""What the AI team reads holds no name, birth date, address, telecom or identifier of a Patient.

One import per fixture set feeds three checks: the restricted `patients` table, every cell of
every `serving` table, and the AI context document (which must also cite only served rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import polars.selectors as cs
import pytest

from healthex_pipeline import ai_context, serving
from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse
from tests.pipeline.tables import read_frame
from tests.pipeline.test_fixture_sets import CONNECTOR
from tests.support.expected import expected_counts, iter_resources
from tests.support.fixture_sets import require_set

# A value this long is looked for inside every cell; a shorter one (an identifier like "171")
# only as a whole cell, since as a substring it would match digits of any hash or year.
SUBSTRING_MIN = 6
# Null flavors a Patient's address or name sometimes holds (Fasten's city "unknown"): they
# identify nobody, and as whole cells they would match FHIR status codes ("unknown").
PLACEHOLDERS = frozenset({"unknown", "unk", "none", "null", "n/a", "not available"})
SERVING_TABLES = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'serving'"
PATIENT_COLUMNS = {
    "user_key",
    "connector",
    "resource_type",
    "resource_id",
    "resource_version",
    "raw_sha256",
    "fetched_at",
    "run_id",
    "source_updated_at",
    "identifier_key",
    "birth_year",
    "sex",
    "deceased",
    "us_state",
}


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (a HumanName's parts, an Address's lines, …)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _identifying_values(resource: dict[str, Any]) -> set[str]:
    """Names, birth and death dates, addresses, telecom, identifiers and the id of a Patient."""
    found: set[str] = set()
    for name in resource.get("name") or []:
        if isinstance(name, dict):
            for part in ("family", "given", "prefix", "suffix", "text"):
                found.update(_strings(name.get(part)))
    for address in resource.get("address") or []:
        if isinstance(address, dict):
            for part in ("line", "city", "district", "postalCode", "text"):
                found.update(_strings(address.get(part)))
    for contact in resource.get("telecom") or []:
        if isinstance(contact, dict):
            found.update(_strings(contact.get("value")))
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict):
            found.update(_strings(identifier.get("value")))
    found.update(_strings(resource.get("id")))
    values = {value.strip() for value in found if value.strip()}
    return {v for v in values if v.lower() not in PLACEHOLDERS} | _dates(resource)


def _dates(resource: dict[str, Any]) -> set[str]:
    """A Patient's birth and death dates."""
    found = {v for key in ("birthDate", "deceasedDateTime") for v in _strings(resource.get(key))}
    return {value.strip() for value in found if value.strip()}


def _leaks(cell: str, values: set[str]) -> list[str]:
    return sorted(v for v in values if v == cell or (len(v) >= SUBSTRING_MIN and v in cell))


@dataclass(frozen=True)
class Imported:
    """One fixture set imported into its own home, and its Patients' identifying values."""

    fixture_set: str
    settings: Settings
    report: ImportReport
    patients: int
    identifying: set[str]
    not_dates: set[str]
    """The identifying values but birth and death dates."""


@pytest.fixture(scope="module", params=sorted(CONNECTOR))
def imported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Imported:
    fixture_set = request.param
    directory = require_set(fixture_set)
    patients = [r for r in iter_resources(directory) if r["resourceType"] == "Patient"]
    settings = Settings(home=tmp_path_factory.mktemp(fixture_set) / "home")
    report = import_files(settings, f"acct-{fixture_set}", CONNECTOR[fixture_set], [directory])
    identifying = set().union(*(_identifying_values(p) for p in patients))
    dates = set().union(*(_dates(p) for p in patients))
    assert report.success
    assert not patients or len(identifying) >= 3, "the scan must look for something"
    return Imported(fixture_set, settings, report, len(patients), identifying, identifying - dates)


def _leaked(frame: pl.DataFrame, identifying: set[str]) -> list[str]:
    """Columns with a cell holding an identifying value (the values stay out of the message)."""
    return sorted(
        {
            column
            for column in frame.columns
            for value in frame[column].to_list()
            if value is not None and _leaks(str(value), identifying)
        }
    )


def test_patients_table_holds_no_identifying_value_of_the_sets_patients(
    imported: Imported,
) -> None:
    connector = CONNECTOR[imported.fixture_set]
    warehouse = Warehouse.for_settings(imported.settings)
    path = warehouse.partition_file("patients", imported.report.user_key, connector)

    frame = read_frame(imported.settings, path)

    assert set(frame.columns) == PATIENT_COLUMNS
    assert frame.height == expected_counts(imported.fixture_set)["patients"]
    leaked = _leaked(frame, imported.identifying)
    assert not leaked, f"patients columns holding a Patient's identifying value: {leaked}"


def test_no_serving_column_holds_an_identifying_value(imported: Imported) -> None:
    with serving.connect(imported.settings) as con:
        tables = [t for (t,) in con.execute(SERVING_TABLES).fetchall()]
        frames = {t: con.sql(f"SELECT * FROM serving.{t}").pl() for t in tables}

    assert set(tables) == set(serving.serving_tables())
    assert sum(f.height for f in frames.values()) > 0 or imported.patients == 0
    # Dates stay (the AI team needs them): an event on the day of birth, such as a newborn's
    # vaccine, is a clinical date, so full birth dates are looked for in text columns only.
    leaked = {
        table: found
        for table, frame in frames.items()
        if (found := _leaked(frame.select(cs.string()), imported.identifying))
        or (found := _leaked(frame.select(~cs.string()), imported.not_dates))
    }
    assert not leaked, f"serving columns holding a Patient's identifying value: {leaked}"


def test_ai_context_cites_only_served_rows_and_names_nobody(imported: Imported) -> None:
    user_key = imported.report.user_key
    path = ai_context.context_path(imported.settings, user_key)
    document = orjson.loads(path.read_bytes())
    with serving.connect(imported.settings) as con:
        served = {
            ref
            for (ref,) in con.execute(
                "SELECT source_ref FROM serving.patient_timeline WHERE user_key = ?", [user_key]
            ).fetchall()
        }

    cited = ai_context.cited_sources(document)

    assert document["user_key"] == user_key
    assert cited <= served, f"{len(cited - served)} cited sources are not served rows"
    assert cited or not served
    text = path.read_text()
    found = sum(len(v) >= SUBSTRING_MIN and v in text for v in imported.not_dates)
    assert not found, f"{found} identifying values in the AI context"  # never the values


def test_the_scan_finds_a_patient_id_and_a_full_birth_date() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "pat-1",
        "birthDate": "1975-05-01",
        "identifier": [{"value": "171"}],
    }
    values = _identifying_values(patient)

    assert _leaks("pat-1", values) == ["pat-1"]
    assert _leaks("born 1975-05-01", values) == ["1975-05-01"]
    assert _leaks("171", values) == ["171"]
    assert _leaks("1975", values) == []
    assert _leaks("a171b", values) == []
