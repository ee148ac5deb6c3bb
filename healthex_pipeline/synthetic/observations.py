"""R4 Observation builders: lab results, and the vitals and social history that are not labs.

The non-lab observations sit beside the labs in every feed, so the pipeline must tell them apart.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from healthex_pipeline.synthetic.codes import (
    BLOOD_PRESSURE,
    DIASTOLIC,
    INTERPRETATION,
    LOINC,
    LOINC_DISPLAY,
    OBSERVATION_CATEGORY,
    SMOKING_STATUS,
    SYSTOLIC,
    UCUM,
    Code,
    QuantityLab,
)
from healthex_pipeline.synthetic.resources import concept
from healthex_pipeline.synthetic.source import Resource, Source, Visit

EPIC_LAB_CATEGORY = "urn:oid:1.2.840.114350.1.13.0.1.7.10.798268.30"
_INTERPRETATIONS = {"H": "High", "L": "Low", "N": "Normal"}


def loinc(code: str) -> Code:
    """The LOINC Code for a code in the display table."""
    return Code(LOINC, code, LOINC_DISPLAY[code])


def lab_value(rng: random.Random, lab: QuantityLab, shift: float) -> float | int:
    """A plausible result: normal around the lab's mean, moved by the patient's conditions."""
    value = max(rng.gauss(lab.mean + shift, lab.sd), lab.sd / 2)
    return round(value) if lab.decimals == 0 else round(value, lab.decimals)


def interpretation(lab: QuantityLab, value: float) -> str:
    """H, L or N, consistent with the reference range the result carries."""
    if lab.high is not None and value > lab.high:
        return "H"
    if lab.low is not None and value < lab.low:
        return "L"
    return "N"


def _category(src: Source, code: str, display: str) -> list[dict[str, object]]:
    """The category list; Epic-like sources add their own lab category beside the standard one."""
    categories: list[dict[str, object]] = [
        {
            "coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}],
            "text": display,
        }
    ]
    if src.flavor.local_codings and code == "laboratory":
        lab = {"system": EPIC_LAB_CATEGORY, "code": "Lab", "display": "Lab"}
        categories.append({"coding": [lab], "text": "Lab"})
    return categories


def _observation(
    src: Source, visit: Visit, category: tuple[str, str], code: Code, taken: datetime, status: str
) -> Resource:
    """The fields every Observation shares."""
    return {
        "resourceType": "Observation",
        "id": src.new_id(),
        "status": status,
        "category": _category(src, *category),
        "code": concept(code),
        "subject": src.patient_ref(),
        "encounter": src.visit_ref(visit),
        "effectiveDateTime": src.when(taken),
        "issued": src.instant(taken + timedelta(minutes=src.rng.randrange(5, 60))),
    }


def _lab(src: Source, visit: Visit, code: str, drawn: datetime, status: str) -> Resource:
    """A laboratory Observation, issued hours after the draw as results are."""
    resource = _observation(src, visit, ("laboratory", "Laboratory"), loinc(code), drawn, status)
    resulted = drawn + timedelta(
        hours=src.rng.randrange(2, 30),
        seconds=src.rng.randrange(3600),
        milliseconds=src.rng.randrange(1000),
    )
    resource["issued"] = src.instant(resulted)
    return resource


def _quantity(value: float, unit: str) -> dict[str, object]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def lab_quantity(
    src: Source, visit: Visit, lab: QuantityLab, value: float, drawn: datetime, status: str
) -> Resource:
    """A numeric lab result with its range (structured, or only as text) and interpretation."""
    resource = _lab(src, visit, lab.loinc, drawn, status)
    resource["valueQuantity"] = _quantity(value, lab.unit)
    flag = interpretation(lab, value)
    resource["interpretation"] = [
        {
            "coding": [{"system": INTERPRETATION, "code": flag, "display": _INTERPRETATIONS[flag]}],
            "text": _INTERPRETATIONS[flag],
        }
    ]
    if src.rng.random() < src.flavor.text_range_share:
        resource["referenceRange"] = [{"text": lab.range_text}]
    else:
        limits: dict[str, object] = {}
        if lab.low is not None:
            limits["low"] = _quantity(lab.low, lab.unit)
        if lab.high is not None:
            limits["high"] = _quantity(lab.high, lab.unit)
        resource["referenceRange"] = [limits]
    return resource


def lab_coded(src: Source, visit: Visit, code: str, result: Code, drawn: datetime) -> Resource:
    """A lab resulted as a coded finding (e.g. SARS-CoV-2 RNA: Not detected)."""
    resource = _lab(src, visit, code, drawn, "final")
    resource["valueCodeableConcept"] = concept(result)
    return resource


def lab_text(src: Source, visit: Visit, code: str, text: str, drawn: datetime) -> Resource:
    """A lab resulted as text, as eGFR is when above the reportable limit (">60")."""
    resource = _lab(src, visit, code, drawn, "final")
    resource["valueString"] = text
    return resource


def vital(src: Source, visit: Visit, code: str, value: float, unit: str) -> Resource:
    """A single-valued vital sign taken at the start of the visit."""
    resource = _observation(
        src, visit, ("vital-signs", "Vital Signs"), loinc(code), visit.start, "final"
    )
    resource["valueQuantity"] = _quantity(value, unit)
    return resource


def blood_pressure(src: Source, visit: Visit, systolic: int, diastolic: int) -> Resource:
    """The blood-pressure panel, whose values live in components rather than a value[x]."""
    resource = _observation(
        src, visit, ("vital-signs", "Vital Signs"), loinc(BLOOD_PRESSURE), visit.start, "final"
    )
    resource["component"] = [
        {"code": concept(loinc(SYSTOLIC)), "valueQuantity": _quantity(systolic, "mm[Hg]")},
        {"code": concept(loinc(DIASTOLIC)), "valueQuantity": _quantity(diastolic, "mm[Hg]")},
    ]
    return resource


def smoking_status(src: Source, visit: Visit, answer: Code) -> Resource:
    """Tobacco smoking status, a social-history observation with a coded value."""
    resource = _observation(
        src,
        visit,
        ("social-history", "Social History"),
        loinc(SMOKING_STATUS),
        visit.start,
        "final",
    )
    resource["valueCodeableConcept"] = concept(answer)
    return resource
