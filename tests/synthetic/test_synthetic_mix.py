from __future__ import annotations

import io
import re
import zipfile
from collections import Counter

from healthex_pipeline.synthetic import SyntheticDelivery, SyntheticUser
from tests.synthetic.written import (
    Resource,
    Written,
    is_laboratory,
    read_bundles,
    read_resources,
)


def _resources(written: list[Written]) -> list[tuple[Written, Resource]]:
    return [(item, r) for item in written for _, r in read_resources(item.paths)]


def test_every_kind_and_connector_occurs(deliveries: list[SyntheticDelivery]) -> None:
    kinds = Counter(d.kind for d in deliveries)
    connectors = Counter(d.connector for d in deliveries)
    assert set(kinds) == {"bundle", "ndjson", "ndjson_gz", "apple_folder", "apple_zip"}, kinds
    assert set(connectors) == {"healthex", "fasten", "apple_health"}, connectors


def test_each_user_has_one_to_three_deliveries_on_distinct_connectors(
    population: list[SyntheticUser],
) -> None:
    for user in population:
        connectors = [d.connector for d in user.deliveries]
        assert 1 <= len(connectors) <= 3, (user.account_id, connectors)
        assert len(set(connectors)) == len(connectors), (user.account_id, connectors)


def test_account_ids_are_opaque_and_unique(population: list[SyntheticUser]) -> None:
    ids = [user.account_id for user in population]
    assert len(population) == 20
    assert all(re.fullmatch(r"acct-\d{6}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_connectors_send_their_own_shapes(deliveries: list[SyntheticDelivery]) -> None:
    shapes = {(d.connector, d.kind) for d in deliveries}
    assert shapes <= {
        ("healthex", "bundle"),
        ("fasten", "bundle"),
        ("fasten", "ndjson"),
        ("fasten", "ndjson_gz"),
        ("apple_health", "apple_folder"),
        ("apple_health", "apple_zip"),
    }, shapes


def test_bundle_types_follow_the_connector(written: list[Written]) -> None:
    types = Counter(
        (item.delivery.connector, item.delivery.fhir_version, bundle["type"])
        for item in written
        for _, bundle in read_bundles(item.paths)
    )
    assert {("healthex", "4.0.1", "searchset"), ("fasten", "1.0.2", "transaction")} <= set(types)
    assert {("fasten", "4.0.1", "collection"), ("fasten", "4.0.1", "transaction")} <= set(types)
    assert types.keys() <= {
        ("healthex", "4.0.1", "searchset"),
        ("fasten", "4.0.1", "collection"),
        ("fasten", "4.0.1", "transaction"),
        ("fasten", "1.0.2", "transaction"),
    }, types


def test_a_few_users_have_a_dstu2_bundle(population: list[SyntheticUser]) -> None:
    with_dstu2 = [u for u in population if any(d.fhir_version == "1.0.2" for d in u.deliveries)]
    assert 1 <= len(with_dstu2) <= 5, len(with_dstu2)


def test_some_searchsets_carry_an_operation_outcome(written: list[Written]) -> None:
    modes = Counter(
        entry["search"]["mode"]
        for item in written
        for _, bundle in read_bundles(item.paths)
        if bundle["type"] == "searchset"
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "OperationOutcome"
    )
    assert modes and set(modes) == {"outcome"}, modes


def test_observation_medication_request_and_immunization_occur_entered_in_error(
    written: list[Written],
) -> None:
    in_error = Counter(
        r["resourceType"] for _, r in _resources(written) if r.get("status") == "entered-in-error"
    )
    assert {"Observation", "MedicationRequest", "Immunization"} <= set(in_error), in_error


def test_some_apple_records_have_no_id(written: list[Written]) -> None:
    apple = [r for item, r in _resources(written) if item.delivery.connector == "apple_health"]
    without_id = [r for r in apple if "id" not in r]
    assert 0 < len(without_id) < len(apple)


def test_only_apple_records_lack_an_id(written: list[Written]) -> None:
    lacking = {
        item.delivery.connector
        for item, r in _resources(written)
        if "id" not in r and r["resourceType"] != "OperationOutcome"
    }
    assert lacking == {"apple_health"}


def test_apple_records_are_pretty_printed_with_apple_separators(
    deliveries: list[SyntheticDelivery],
) -> None:
    folder = next(d for d in deliveries if d.kind == "apple_folder")
    for name, data in folder.files.items():
        assert name.startswith("clinical-records/") and name.endswith(".json"), name
        assert data.startswith(b'{\n  "resourceType" : '), data[:40]


def test_apple_zip_holds_the_records_under_the_export_root(
    deliveries: list[SyntheticDelivery],
) -> None:
    archive = next(d for d in deliveries if d.kind == "apple_zip").files["export.zip"]
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    assert all(n.startswith("apple_health_export/") for n in names), names
    assert any(n.startswith("apple_health_export/clinical-records/") for n in names)


def test_all_three_medication_shapes_occur(written: list[Written]) -> None:
    shapes: Counter[str] = Counter()
    for _, r in _resources(written):
        if r["resourceType"] != "MedicationRequest":
            continue
        if "medicationCodeableConcept" in r:
            shapes["codeable"] += 1
        elif r["medicationReference"]["reference"].startswith("#"):
            shapes["contained"] += 1
        elif r["medicationReference"]["reference"].startswith("urn:uuid:"):
            shapes["urn"] += 1
        else:
            shapes["relative"] += 1
    assert set(shapes) == {"codeable", "contained", "urn", "relative"}, shapes


def test_medication_statements_occur(written: list[Written]) -> None:
    types = Counter(r["resourceType"] for _, r in _resources(written))
    assert types["MedicationStatement"] > 0, types


def _labs(written: list[Written]) -> list[Resource]:
    return [r for _, r in _resources(written) if is_laboratory(r)]


def test_some_lab_ranges_are_text_only(written: list[Written]) -> None:
    ranges = [r["referenceRange"][0] for r in _labs(written) if "referenceRange" in r]
    assert any(set(rr) == {"text"} for rr in ranges)
    assert any("low" in rr or "high" in rr for rr in ranges)


def test_some_labs_are_coded_results(written: list[Written]) -> None:
    assert any("valueCodeableConcept" in r for r in _labs(written))


def test_some_labs_are_string_results(written: list[Written]) -> None:
    assert any("valueString" in r for r in _labs(written))


def test_vital_signs_are_present_and_not_labs(written: list[Written]) -> None:
    observations = [r for _, r in _resources(written) if r["resourceType"] == "Observation"]
    vitals = [r for r in observations if not is_laboratory(r)]
    assert vitals and len(vitals) < len(observations)
