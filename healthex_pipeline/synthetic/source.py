"""The context resource builders share: who the patient is, which facility, which conventions."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from healthex_pipeline.synthetic.demographics import Person
from healthex_pipeline.synthetic.ids import IdStyle, new_id
from healthex_pipeline.synthetic.references import RefStyle, reference
from healthex_pipeline.synthetic.timing import local_datetime, local_instant

Resource = dict[str, Any]
MedStyle = Literal["codeable", "contained", "bundled"]
"""RxNorm inline (Synthea); a ``#contained`` Medication (Epic, Apple); a separate Medication."""


@dataclass(frozen=True, slots=True)
class Flavor:
    """How the source EHR writes its resources; real feeds differ in exactly these ways."""

    ref_style: RefStyle
    id_style: IdStyle
    med_styles: tuple[MedStyle, ...]
    text_range_share: float
    """Share of lab results whose reference range is only text ("3.5-5.0"), as Apple shows."""
    local_codings: bool
    """Epic-like: a vendor category coding beside the standard one, and text on codings."""


@dataclass(frozen=True, slots=True)
class Visit:
    """An encounter as the resources recorded during it see it."""

    id: str
    display: str
    start: datetime
    end: datetime
    clinician: str


@dataclass(frozen=True, slots=True)
class Source:
    """One EHR's view of one patient: the ids and conventions of a single delivery."""

    rng: random.Random
    person: Person
    flavor: Flavor
    patient_id: str
    organization_id: str
    organization_name: str

    def new_id(self) -> str:
        """A fresh resource id in this source's id style."""
        return new_id(self.rng, self.flavor.id_style)

    def ref(self, resource_type: str, resource_id: str, display: str) -> dict[str, str]:
        """A reference in this source's style."""
        return reference(self.flavor.ref_style, resource_type, resource_id, display)

    def patient_ref(self) -> dict[str, str]:
        """The reference every clinical resource carries to the patient."""
        display = f"{self.person.given} {self.person.family}"
        if self.flavor.ref_style is RefStyle.APPLE:
            display = f"{self.person.family}, {self.person.given}"
        return self.ref("Patient", self.patient_id, display)

    def visit_ref(self, visit: Visit) -> dict[str, str]:
        """The reference to the encounter a resource was recorded in."""
        return self.ref("Encounter", visit.id, visit.display)

    def organization_ref(self) -> dict[str, str]:
        """The reference to the facility that sent the delivery."""
        return self.ref("Organization", self.organization_id, self.organization_name)

    def when(self, moment: datetime) -> str:
        """A dateTime at the facility's local offset."""
        return local_datetime(moment, self.person.place)

    def instant(self, moment: datetime) -> str:
        """An instant at the facility's local offset."""
        return local_instant(moment, self.person.place)
