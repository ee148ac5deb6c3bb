"""R4 medication builders: MedicationRequest in its three shapes, MedicationStatement, Medication.

The shapes are those real feeds use: RxNorm inline (Synthea), a ``#contained`` Medication (Epic,
Apple) and a reference to a Medication elsewhere in the delivery (``urn:uuid`` in bundles).
"""

from __future__ import annotations

from datetime import datetime

from healthex_pipeline.synthetic.codes import MEDICATION_REQUEST_CATEGORY, RXNORM, Code, Drug
from healthex_pipeline.synthetic.resources import concept
from healthex_pipeline.synthetic.source import MedStyle, Resource, Source, Visit


def _medication(resource_id: str, drug: Drug) -> Resource:
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "code": concept(Code(RXNORM, drug.rxnorm, drug.display)),
        "form": {"text": drug.form},
    }


def _dosage(drug: Drug) -> dict[str, object]:
    dosage: dict[str, object] = {
        "sequence": 1,
        "text": drug.sig,
        "timing": {"repeat": {"frequency": drug.per_day, "period": 1, "periodUnit": "d"}},
    }
    if "as needed" in drug.sig:
        dosage["asNeededBoolean"] = True
    return dosage


class MedicationCatalog:
    """The Medication resources of one delivery, one per drug however often it is ordered."""

    def __init__(self, src: Source) -> None:
        self._src = src
        self._ids: dict[str, str] = {}
        self.resources: list[Resource] = []

    def reference(self, drug: Drug) -> dict[str, str]:
        """A reference to the drug's Medication, creating the resource on first use."""
        if drug.rxnorm not in self._ids:
            self._ids[drug.rxnorm] = self._src.new_id()
            self.resources.append(_medication(self._ids[drug.rxnorm], drug))
        return self._src.ref("Medication", self._ids[drug.rxnorm], drug.display)


def medication_request(
    src: Source,
    visit: Visit,
    drug: Drug,
    style: MedStyle,
    status: str,
    catalog: MedicationCatalog,
) -> Resource:
    """An outpatient order for the drug, written in the given medication shape."""
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "id": src.new_id(),
        "status": status,
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": MEDICATION_REQUEST_CATEGORY,
                        "code": "outpatient",
                        "display": "Outpatient",
                    }
                ]
            }
        ],
    }
    if style == "codeable":
        resource["medicationCodeableConcept"] = concept(Code(RXNORM, drug.rxnorm, drug.display))
    elif style == "contained":
        resource["contained"] = [_medication("med1", drug)]
        resource["medicationReference"] = {"reference": "#med1", "display": drug.display}
    else:
        resource["medicationReference"] = catalog.reference(drug)
    resource |= {
        "subject": src.patient_ref(),
        "encounter": src.visit_ref(visit),
        "authoredOn": src.when(visit.end),
        "requester": {"display": visit.clinician},
        "dosageInstruction": [_dosage(drug)],
    }
    return resource


def medication_statement(src: Source, visit: Visit, drug: Drug, since: datetime) -> Resource:
    """An over-the-counter drug the patient reports taking, recorded at the visit."""
    return {
        "resourceType": "MedicationStatement",
        "id": src.new_id(),
        "status": "active",
        "medicationCodeableConcept": concept(Code(RXNORM, drug.rxnorm, drug.display)),
        "subject": src.patient_ref(),
        "context": src.visit_ref(visit),
        "effectiveDateTime": src.when(since),
        "dateAsserted": src.when(visit.start),
        "informationSource": src.patient_ref(),
        "dosage": [_dosage(drug)],
    }
