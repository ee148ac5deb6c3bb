"""Rewrite the R4 resources this package builds into DSTU2 (1.0.2), shaped as Synthea's DSTU2.

Older EHR endpoints still serve DSTU2, and the pipeline must read its differences: a
``MedicationOrder`` with ``dateWritten``, a single-object ``Observation.category``, a plain string
``Encounter.class``, ``patient`` where R4 has ``subject``, and ``Immunization.date`` with
``wasNotGiven`` and ``reported``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from healthex_pipeline.synthetic.source import Resource

_ENCOUNTER_CLASS = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient"}
_OBSERVATION_CATEGORY = "http://hl7.org/fhir/observation-category"
_INTERPRETATION = "http://hl7.org/fhir/v2/0078"
_CONDITION_CATEGORY = "http://hl7.org/fhir/condition-category"
_IDENTIFIER_TYPE = "http://hl7.org/fhir/v2/0203"
_ORGANIZATION_TYPE = "http://hl7.org/fhir/organization-type"


def _recode(concept: dict[str, Any], system: str) -> dict[str, Any]:
    """The same CodeableConcept with its codings moved to the DSTU2 system URL."""
    return {**concept, "coding": [{**c, "system": system} for c in concept["coding"]]}


def _rename(resource: Resource, renames: dict[str, str], drop: tuple[str, ...] = ()) -> Resource:
    """Rename and drop keys, keeping the original key order."""
    return {renames.get(k, k): v for k, v in resource.items() if k not in drop}


def _patient(r: Resource) -> Resource:
    names = [{**n, "family": [n["family"]]} for n in r["name"]]
    identifiers = [
        {**i, "type": _recode(i["type"], _IDENTIFIER_TYPE)} if "type" in i else i
        for i in r["identifier"]
    ]
    return {**r, "name": names, "identifier": identifiers}


def _organization(r: Resource) -> Resource:
    return {**r, "type": _recode(r["type"][0], _ORGANIZATION_TYPE)}


def _encounter(r: Resource) -> Resource:
    out = _rename(r, {"subject": "patient", "reasonCode": "reason"})
    out["class"] = _ENCOUNTER_CLASS[r["class"]["code"]]
    return out


def _condition(r: Resource) -> Resource:
    out = _rename(r, {"subject": "patient", "recordedDate": "dateRecorded"})
    out["clinicalStatus"] = r["clinicalStatus"]["coding"][0]["code"]
    out["verificationStatus"] = r["verificationStatus"]["coding"][0]["code"]
    chronic = r["category"][0]["coding"][0]["code"] == "problem-list-item"
    code, display = ("finding", "Finding") if chronic else ("diagnosis", "Diagnosis")
    out["category"] = {
        "coding": [{"system": _CONDITION_CATEGORY, "code": code, "display": display}]
    }
    out["dateRecorded"] = r["recordedDate"][:10]
    return out


def _observation(r: Resource) -> Resource:
    out = {**r, "category": _recode(r["category"][0], _OBSERVATION_CATEGORY)}
    if "interpretation" in r:
        out["interpretation"] = _recode(r["interpretation"][0], _INTERPRETATION)
    return out


def _dosage(dosage: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dosage.items() if k != "sequence"}


def _medication_order(r: Resource) -> Resource:
    out = _rename(
        r,
        {"subject": "patient", "authoredOn": "dateWritten", "requester": "prescriber"},
        drop=("intent", "category"),
    )
    out["resourceType"] = "MedicationOrder"
    out["dosageInstruction"] = [_dosage(d) for d in r["dosageInstruction"]]
    return out


def _medication_statement(r: Resource) -> Resource:
    out = _rename(r, {"subject": "patient"}, drop=("context",))
    out["dosage"] = [_dosage(d) for d in r["dosage"]]
    return out


def _immunization(r: Resource) -> Resource:
    out = _rename(
        r,
        {"occurrenceDateTime": "date"},
        drop=("recorded", "primarySource", "reportOrigin", "manufacturer"),
    )
    out["wasNotGiven"] = False
    out["reported"] = not r["primarySource"]
    out["manufacturer"] = {"display": r["manufacturer"]["display"]}
    return out


_DOWNGRADES: dict[str, Callable[[Resource], Resource]] = {
    "Patient": _patient,
    "Organization": _organization,
    "Encounter": _encounter,
    "Condition": _condition,
    "Observation": _observation,
    "MedicationRequest": _medication_order,
    "MedicationStatement": _medication_statement,
    "Immunization": _immunization,
}


def downgrade(resource: Resource) -> Resource:
    """The DSTU2 form of an R4 resource built by this package."""
    return _DOWNGRADES[resource["resourceType"]](resource)
