from __future__ import annotations

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from tests.synthetic.written import Resource, Written, is_laboratory, read_bundles, read_resources

_R4 = "4.0.1"
_DSTU2 = "1.0.2"


def _validation_errors(document: Resource) -> str | None:
    try:
        get_fhir_model_class(document["resourceType"]).model_validate(document)
    except ValidationError as error:
        return str(error).splitlines()[1]
    return None


def test_every_r4_resource_validates_against_the_r4b_models(written: list[Written]) -> None:
    # R4B changed nothing in the resources generated here, and fhir.resources has no R4 package.
    failures = {
        locator: error
        for item in written
        if item.delivery.fhir_version == _R4
        for locator, resource in read_resources(item.paths)
        if (error := _validation_errors(resource)) is not None
    }
    assert failures == {}


def test_every_r4_bundle_validates_as_a_bundle(written: list[Written]) -> None:
    failures = {
        locator: error
        for item in written
        if item.delivery.fhir_version == _R4
        for locator, bundle in read_bundles(item.paths)
        if (error := _validation_errors(bundle)) is not None
    }
    assert failures == {}


def test_dstu2_resources_have_the_dstu2_shapes(written: list[Written]) -> None:
    # fhir.resources 8 ships no DSTU2 models, so the DSTU2 differences the pipeline must read
    # are checked structurally instead.
    dstu2 = [
        resource
        for item in written
        if item.delivery.fhir_version == _DSTU2
        for _, resource in read_resources(item.paths)
    ]
    types = {r["resourceType"] for r in dstu2}
    assert "MedicationOrder" in types and "MedicationRequest" not in types, types
    for r in dstu2:
        kind = r["resourceType"]
        if kind == "MedicationOrder":
            assert "dateWritten" in r and "authoredOn" not in r and "patient" in r, r
        elif kind == "Observation":
            assert isinstance(r["category"], dict), r
        elif kind == "Encounter":
            assert isinstance(r["class"], str) and "patient" in r and "subject" not in r, r
        elif kind == "Immunization":
            assert {"date", "wasNotGiven", "reported"} <= r.keys(), r
            assert "occurrenceDateTime" not in r, r
        elif kind == "Patient":
            assert all(isinstance(name["family"], list) for name in r["name"]), r


def test_dstu2_encounters_with_a_reason_use_the_reason_element(written: list[Written]) -> None:
    encounters = [
        resource
        for item in written
        if item.delivery.fhir_version == _DSTU2
        for _, resource in read_resources(item.paths)
        if resource["resourceType"] == "Encounter"
    ]
    assert any("reason" in e for e in encounters)
    assert not any("reasonCode" in e for e in encounters)


def test_lab_interpretation_agrees_with_the_reference_range(written: list[Written]) -> None:
    def bounds(lab: Resource) -> tuple[float | None, float | None]:
        limits = lab["referenceRange"][0]
        if "text" in limits and "low" not in limits and "high" not in limits:
            text = limits["text"]
            if text.startswith("<"):
                return None, float(text[1:]) - 10 ** -len(text.partition(".")[2] or "")
            if text.startswith(">"):
                return float(text[1:]) + 10 ** -len(text.partition(".")[2] or ""), None
            low, high = text.split("-")
            return float(low), float(high)
        return limits.get("low", {}).get("value"), limits.get("high", {}).get("value")

    checked = 0
    for item in written:
        for locator, lab in read_resources(item.paths):
            if not is_laboratory(lab) or "valueQuantity" not in lab:
                continue
            value = lab["valueQuantity"]["value"]
            low, high = bounds(lab)
            expected = "H" if high is not None and value > high else "N"
            expected = "L" if low is not None and value < low else expected
            interpretation = lab["interpretation"]
            flag = interpretation[0] if isinstance(interpretation, list) else interpretation
            assert flag["coding"][0]["code"] == expected, (locator, value, low, high)
            checked += 1
    assert checked > 0
