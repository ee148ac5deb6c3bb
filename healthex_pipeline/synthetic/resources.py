"""R4 builders: Patient, Organization, Encounter, Condition and Immunization.

Observations and medications have their own modules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from healthex_pipeline.synthetic.codes import (
    ACT_CODE,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    CVX,
    IDENTIFIER_TYPE,
    MVX,
    NPI,
    ORGANIZATION_TYPE,
    Code,
    EncounterKind,
    Vaccine,
)
from healthex_pipeline.synthetic.source import Resource, Source, Visit


def concept(code: Code, text: str | None = None) -> dict[str, object]:
    """A CodeableConcept with one coding and its text (the display unless told otherwise)."""
    coding = {"system": code.system, "code": code.code, "display": code.display}
    return {"coding": [coding], "text": text or code.display}


def patient(src: Source, mrn_system: str, mrn: str) -> Resource:
    """The Patient as the facility registered them."""
    person = src.person
    return {
        "resourceType": "Patient",
        "id": src.patient_id,
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": IDENTIFIER_TYPE,
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ],
                    "text": "MRN",
                },
                "system": mrn_system,
                "value": mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": person.family, "given": [person.given]}],
        "telecom": [{"system": "phone", "value": person.phone, "use": "home"}],
        "gender": person.gender,
        "birthDate": person.birth_date.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [person.street],
                "city": person.place.city,
                "state": person.place.state,
                "postalCode": person.place.zip_code,
                "country": "US",
            }
        ],
    }


def organization(src: Source, npi: str, street: str) -> Resource:
    """The facility that sent the delivery (every Encounter's serviceProvider)."""
    place = src.person.place
    return {
        "resourceType": "Organization",
        "id": src.organization_id,
        "identifier": [{"system": NPI, "value": npi}],
        "active": True,
        "type": [
            {
                "coding": [
                    {"system": ORGANIZATION_TYPE, "code": "prov", "display": "Healthcare Provider"}
                ]
            }
        ],
        "name": src.organization_name,
        "address": [
            {
                "line": [street],
                "city": place.city,
                "state": place.state,
                "postalCode": place.zip_code,
                "country": "US",
            }
        ],
    }


def encounter(src: Source, visit: Visit, kind: EncounterKind, reason: Code | None) -> Resource:
    """A finished Encounter with its v3 ActCode class, SNOMED type and reason."""
    resource: Resource = {
        "resourceType": "Encounter",
        "id": visit.id,
        "status": "finished",
        "class": {"system": ACT_CODE, "code": kind.act_code, "display": kind.act_display},
        "type": [concept(kind.type, visit.display)],
        "subject": src.patient_ref(),
        "participant": [{"individual": {"display": visit.clinician}}],
        "period": {"start": src.when(visit.start), "end": src.when(visit.end)},
        "serviceProvider": src.organization_ref(),
    }
    if reason is not None:
        resource["reasonCode"] = [concept(reason)]
    return resource


def condition(src: Source, visit: Visit, code: Code, onset: datetime, chronic: bool) -> Resource:
    """A Condition: a problem-list entry when chronic, else the visit's diagnosis."""
    category = "problem-list-item" if chronic else "encounter-diagnosis"
    category_display = "Problem List Item" if chronic else "Encounter Diagnosis"
    resource: Resource = {
        "resourceType": "Condition",
        "id": src.new_id(),
        "clinicalStatus": {
            "coding": [{"system": CONDITION_CLINICAL, "code": "active" if chronic else "resolved"}]
        },
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]},
        "category": [
            {
                "coding": [
                    {"system": CONDITION_CATEGORY, "code": category, "display": category_display}
                ]
            }
        ],
        "code": concept(code),
        "subject": src.patient_ref(),
        "encounter": src.visit_ref(visit),
        "onsetDateTime": src.when(onset),
        "recordedDate": src.when(visit.start),
    }
    if not chronic:
        resource["abatementDateTime"] = src.when(visit.start + timedelta(days=14))
    return resource


def immunization(
    src: Source, visit: Visit, vaccine: Vaccine, status: str, primary_source: bool
) -> Resource:
    """An Immunization with its CVX code, lot number and manufacturer.

    When not from the primary source it is a dose given elsewhere (a pharmacy flu shot) that the
    clinic recorded on the patient's word, as ``reportOrigin`` says.
    """
    lot = vaccine.lot_prefix + "".join(src.rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=4))
    given = visit.start + timedelta(minutes=src.rng.randrange(10, 40))
    resource: Resource = {
        "resourceType": "Immunization",
        "id": src.new_id(),
        "status": status,
        "vaccineCode": concept(Code(CVX, vaccine.cvx, vaccine.display)),
        "patient": src.patient_ref(),
        "encounter": src.visit_ref(visit),
        "occurrenceDateTime": src.when(given),
        "recorded": src.when(given),
        "primarySource": primary_source,
        "manufacturer": {
            "identifier": {"system": MVX, "value": vaccine.mvx},
            "display": vaccine.manufacturer,
        },
        "lotNumber": lot,
        "expirationDate": (given + timedelta(days=src.rng.randrange(120, 540))).date().isoformat(),
        "site": {"text": src.rng.choice(("Left deltoid", "Right deltoid"))},
        "route": {"text": "Intramuscular"},
    }
    if not primary_source:
        resource["reportOrigin"] = {"text": "Pharmacy record"}
    return resource
