from __future__ import annotations

from collections import defaultdict

from tests.synthetic.written import Written, is_laboratory, read_resources

_TABLES = ("lab_results", "medications", "immunizations", "encounters")
_TABLE_OF_TYPE = {
    "MedicationRequest": "medications",
    "MedicationStatement": "medications",
    "MedicationOrder": "medications",
    "Immunization": "immunizations",
    "Encounter": "encounters",
}


def _count(item: Written) -> dict[str, int]:
    """Distinct kept resources per table; a resource without an id counts once where it is."""
    keys: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for locator, resource in read_resources(item.paths):
        if resource.get("status") == "entered-in-error":
            continue
        table = (
            "lab_results"
            if is_laboratory(resource)
            else _TABLE_OF_TYPE.get(resource["resourceType"])
        )
        if table is not None:
            keys[table].add((resource["resourceType"], resource.get("id") or locator))
    return {
        table: len(keys[table])
        for table in ("lab_results", "medications", "immunizations", "encounters")
    }


def test_expected_counts_match_an_independent_count_of_the_written_files(
    written: list[Written],
) -> None:
    differing = {
        f"{item.account_id}/{item.delivery.connector}/{item.delivery.kind}": (
            item.delivery.expected,
            _count(item),
        )
        for item in written
        if item.delivery.expected != _count(item)
    }
    assert differing == {}, "expected (generator) vs counted (files): " + repr(differing)
