"""The patients table holds no name, birth date, address, telecom or identifier of any Patient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse
from tests.pipeline.tables import read_frame
from tests.pipeline.test_fixture_sets import CONNECTOR
from tests.support.expected import expected_counts, iter_resources
from tests.support.fixture_sets import require_set

# A value this long is looked for inside every cell; a shorter one (an identifier like "171")
# only as a whole cell, since as a substring it would match digits of any hash or year.
SUBSTRING_MIN = 6
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
    for key in ("birthDate", "deceasedDateTime", "id"):
        found.update(_strings(resource.get(key)))
    return {value.strip() for value in found if value.strip()}


def _leaks(cell: str, values: set[str]) -> list[str]:
    return sorted(v for v in values if v == cell or (len(v) >= SUBSTRING_MIN and v in cell))


@pytest.mark.parametrize("fixture_set", sorted(CONNECTOR))
def test_patients_table_holds_no_identifying_value_of_the_sets_patients(
    settings: Settings, fixture_set: str
) -> None:
    directory = require_set(fixture_set)
    patients = [r for r in iter_resources(directory) if r["resourceType"] == "Patient"]
    identifying = set().union(*(_identifying_values(p) for p in patients))
    connector = CONNECTOR[fixture_set]
    report = import_files(settings, f"acct-{fixture_set}", connector, [directory])
    path = Warehouse.for_settings(settings).partition_file("patients", report.user_key, connector)

    frame = read_frame(settings, path)

    assert report.success
    assert set(frame.columns) == PATIENT_COLUMNS
    assert frame.height == expected_counts(fixture_set)["patients"]
    assert not patients or len(identifying) >= 3, "the scan must look for something"
    leaked = {
        column: found
        for column in frame.columns
        for cell in frame[column].cast(str).drop_nulls().to_list()
        if (found := _leaks(cell, identifying))
    }
    # Name the columns only: the values are PHI and a test log is no place for them.
    assert not leaked, f"patients columns holding a Patient's identifying value: {sorted(leaked)}"


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
