"""One facility's record of a patient: visits over a few years and what was recorded at each.

Every resource is tagged, as it is built, with the curated table it should land in, so the
expected counts come from what was generated rather than from reading the output back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from healthex_pipeline.synthetic import codes
from healthex_pipeline.synthetic.codes import (
    AcuteProblem,
    ChronicCondition,
    Drug,
    EncounterKind,
    Vaccine,
)
from healthex_pipeline.synthetic.demographics import AS_OF, FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES
from healthex_pipeline.synthetic.medications import (
    MedicationCatalog,
    medication_request,
    medication_statement,
)
from healthex_pipeline.synthetic.observations import (
    blood_pressure,
    lab_coded,
    lab_quantity,
    lab_text,
    lab_value,
    smoking_status,
    vital,
)
from healthex_pipeline.synthetic.resources import condition, encounter, immunization
from healthex_pipeline.synthetic.source import Resource, Source, Visit

Table = Literal["lab_results", "medications", "immunizations", "encounters"]
TABLES: tuple[Table, ...] = ("lab_results", "medications", "immunizations", "encounters")
ErrorType = Literal["Observation", "MedicationRequest", "Immunization"]
Reason = ChronicCondition | AcuteProblem | None

_FLU_MONTHS = frozenset({9, 10, 11, 12, 1, 2, 3})
_COVID_VACCINES_FROM = date(2021, 1, 1)


@dataclass(frozen=True, slots=True)
class Generated:
    """A built resource and the curated table it must yield a row in (None: no table)."""

    resource: Resource
    table: Table | None


@dataclass(frozen=True, slots=True)
class PlannedVisit:
    """A visit before its resources exist: when, what kind and why."""

    day: date
    kind: EncounterKind
    reason: Reason


def _plan(rng: random.Random, conditions: tuple[ChronicCondition, ...]) -> list[PlannedVisit]:
    """Yearly checkups, follow-ups of chronic problems, acute visits and the odd ED or stay."""
    years = rng.randint(1, 4)
    first = AS_OF - timedelta(days=365 * years)
    planned: list[PlannedVisit] = []

    def day_in(year_start: date) -> date:
        return min(year_start + timedelta(days=rng.randrange(365)), AS_OF - timedelta(days=7))

    for year in range(years):
        start = first + timedelta(days=365 * year)
        if rng.random() < 0.85:
            planned.append(PlannedVisit(day_in(start), codes.CHECKUP, None))
        planned.extend(
            PlannedVisit(day_in(start), codes.FOLLOW_UP, chronic)
            for chronic in conditions
            if rng.random() < 0.5
        )
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            problem = rng.choice(codes.ACUTE_PROBLEMS)
            planned.append(PlannedVisit(day_in(start), codes.PROBLEM_VISIT, problem))
        if rng.random() < 0.1:
            problem = rng.choice(codes.EMERGENCY_PROBLEMS)
            planned.append(PlannedVisit(day_in(start), codes.EMERGENCY, problem))
        if rng.random() < 0.04:
            problem = rng.choice(codes.INPATIENT_PROBLEMS)
            planned.append(PlannedVisit(day_in(start), codes.INPATIENT, problem))
    if not planned:
        planned.append(PlannedVisit(day_in(first), codes.CHECKUP, None))
    return sorted(planned, key=lambda visit: visit.day)


def _times(rng: random.Random, planned: PlannedVisit) -> tuple[datetime, datetime]:
    """Office hours on a weekday for clinic visits; any hour for the ED; days for a stay."""
    if planned.kind is codes.EMERGENCY:
        start = datetime.combine(planned.day, time(rng.randrange(24), rng.randrange(60)))
        return start, start + timedelta(minutes=rng.randrange(150, 420))
    if planned.kind is codes.INPATIENT:
        start = datetime.combine(planned.day, time(rng.randrange(24), rng.randrange(60)))
        discharge = planned.day + timedelta(days=rng.randint(2, 5))
        return start, datetime.combine(discharge, time(rng.randrange(10, 15), rng.randrange(60)))
    day = planned.day
    while day.weekday() >= 5:
        day += timedelta(days=1)
    start = datetime.combine(day, time(rng.randrange(8, 17), rng.choice((0, 15, 30, 45))))
    return start, start + timedelta(minutes=rng.randrange(20, 50))


class HistoryBuilder:
    """Builds one source's resources for one patient, tagging each with its curated table."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.rng = src.rng
        self.items: list[Generated] = []
        self.catalog = MedicationCatalog(src)
        self.visits: list[Visit] = []
        self._drugs = {c.code.code: self.rng.choice(c.drugs) for c in src.person.conditions}
        self._last_order: dict[str, Resource] = {}
        self._weight = round(self.rng.gauss(28.0, 5.0) * (src.person.height_cm / 100) ** 2, 1)
        clinician_names = FEMALE_NAMES + MALE_NAMES
        self._clinicians = [
            f"{self.rng.choice(clinician_names)} {self.rng.choice(FAMILY_NAMES)}, MD"
            for _ in range(3)
        ]

    def add(self, resource: Resource, table: Table | None = None) -> None:
        """Record a resource with the table it feeds (entered-in-error ones are added without)."""
        self.items.append(Generated(resource, table))

    def build(self, error: ErrorType | None) -> list[Generated]:
        """Every visit of the plan, then one entered-in-error resource if asked for."""
        for number, planned in enumerate(_plan(self.rng, self.src.person.conditions)):
            self._visit(planned, first=number == 0)
        if error is not None:
            self._entered_in_error(error)
        for medication in self.catalog.resources:
            self.add(medication)
        return self.items

    def _visit(self, planned: PlannedVisit, first: bool) -> None:
        start, end = _times(self.rng, planned)
        clinicians = (
            self._clinicians[:1] if planned.kind.act_code == "AMB" else self._clinicians[1:]
        )
        clinician = self.rng.choice(clinicians)
        visit = Visit(self.src.new_id(), planned.kind.type.display, start, end, clinician)
        self.visits.append(visit)
        reason = planned.reason.code if planned.reason is not None else None
        self.add(encounter(self.src, visit, planned.kind, reason), "encounters")
        if first:
            for chronic in self.src.person.conditions:
                onset = start - timedelta(days=self.rng.randrange(200, 3000))
                self.add(condition(self.src, visit, chronic.code, onset, chronic=True))
        self._vitals(visit, sick=planned.kind is not codes.CHECKUP)
        if isinstance(planned.reason, AcuteProblem):
            self._acute(visit, planned.reason)
        elif planned.kind is codes.CHECKUP:
            self._checkup(visit)
        elif isinstance(planned.reason, ChronicCondition):
            self._labs(visit, planned.reason.panels)
            self._order(visit, self._drugs[planned.reason.code.code], chronic=True)
            self._vaccines(visit, flu_only=True)

    def _checkup(self, visit: Visit) -> None:
        person = self.src.person
        answer = codes.SMOKING_ANSWERS[person.smoking]
        self.add(smoking_status(self.src, visit, answer))
        panels = ["bmp", "lipid", "cbc"]
        panels += [p for c in person.conditions for p in c.panels if p not in panels]
        self._labs(visit, tuple(panels))
        self._vaccines(visit, flu_only=False)
        for chronic in person.conditions:
            self._order(visit, self._drugs[chronic.code.code], chronic=True)
        if self.rng.random() < 0.3:
            drug = self.rng.choice(codes.OVER_THE_COUNTER)
            since = visit.start - timedelta(days=self.rng.randrange(30, 900))
            self.add(medication_statement(self.src, visit, drug, since), "medications")

    def _acute(self, visit: Visit, problem: AcuteProblem) -> None:
        self.add(condition(self.src, visit, problem.code, visit.start, chronic=False))
        self._labs(visit, problem.panels)
        if problem.coded_test is not None:
            results = codes.CODED_LABS[problem.coded_test]
            result = results[1] if problem.test_positive else results[0]
            drawn = visit.start + timedelta(minutes=10)
            self.add(lab_coded(self.src, visit, problem.coded_test, result, drawn), "lab_results")
        if problem.drug is not None:
            self._order(visit, problem.drug, chronic=False)

    def _vitals(self, visit: Visit, sick: bool) -> None:
        person, rng = self.src.person, self.rng
        hypertensive = any(c.code == codes.HYPERTENSION for c in person.conditions)
        systolic = round(rng.gauss(134 if hypertensive else 121, 11))
        diastolic = round(rng.gauss(84 if hypertensive else 77, 7))
        self.add(blood_pressure(self.src, visit, systolic, diastolic))
        self._measure(visit, codes.HEART_RATE)
        weight = round(self._weight + rng.gauss(0, 1.2), 1)
        self.add(vital(self.src, visit, codes.BODY_WEIGHT, weight, "kg"))
        bmi = round(weight / (person.height_cm / 100) ** 2, 1)
        self.add(vital(self.src, visit, codes.BMI, bmi, "kg/m2"))
        if sick:
            self._measure(visit, codes.BODY_TEMPERATURE)
            self._measure(visit, codes.OXYGEN_SATURATION)

    def _measure(self, visit: Visit, code: str) -> None:
        spec = codes.VITALS[code]
        drawn = self.rng.gauss(spec.mean, spec.sd)
        if code == codes.OXYGEN_SATURATION:
            drawn = min(drawn, 100.0)
        value = round(drawn) if spec.decimals == 0 else round(drawn, spec.decimals)
        self.add(vital(self.src, visit, code, value, spec.unit))

    def _labs(self, visit: Visit, panels: tuple[str, ...]) -> None:
        drawn = visit.start + timedelta(minutes=self.rng.randrange(15, 45))
        conditions = self.src.person.conditions
        for panel in panels:
            for code in codes.PANELS[panel]:
                lab = codes.QUANTITY_LABS[code]
                shift = sum(c.lab_shift.get(code, 0.0) for c in conditions)
                value = lab_value(self.rng, lab, shift)
                self.add(lab_quantity(self.src, visit, lab, value, drawn, "final"), "lab_results")
                if code == codes.CREATININE and lab.high is not None and value <= lab.high:
                    text = codes.EGFR_NORMAL_TEXT
                    self.add(lab_text(self.src, visit, codes.EGFR, text, drawn), "lab_results")

    def _vaccines(self, visit: Visit, flu_only: bool) -> None:
        rng, day = self.rng, visit.start.date()
        age = self.src.person.age_on(day)
        due: list[Vaccine] = []
        if day.month in _FLU_MONTHS and rng.random() < 0.6:
            due.append(rng.choice(codes.FLU))
        if not flu_only:
            if day >= _COVID_VACCINES_FROM and rng.random() < 0.3:
                due.append(rng.choice(codes.COVID))
            if rng.random() < 0.1:
                due.append(codes.TDAP)
            if age >= 50 and rng.random() < 0.2:
                due.append(codes.ZOSTER)
            if age >= 65 and rng.random() < 0.2:
                due.append(codes.PNEUMOCOCCAL)
            if age < 27 and rng.random() < 0.3:
                due.append(codes.HPV)
        for vaccine in due:
            primary = rng.random() < 0.85
            resource = immunization(self.src, visit, vaccine, "completed", primary)
            self.add(resource, "immunizations")

    def _order(self, visit: Visit, drug: Drug, chronic: bool) -> None:
        """Order a drug; a chronic drug's renewal completes its previous order."""
        style = self.rng.choice(self.src.flavor.med_styles)
        status = "active" if chronic else "completed"
        order = medication_request(self.src, visit, drug, style, status, self.catalog)
        if chronic:
            previous = self._last_order.get(drug.rxnorm)
            if previous is not None:
                previous["status"] = "completed"
            self._last_order[drug.rxnorm] = order
        self.add(order, "medications")

    def _entered_in_error(self, error: ErrorType) -> None:
        """A resource recorded by mistake and later marked entered-in-error by the source."""
        visit = self.rng.choice(self.visits)
        if error == "Observation":
            lab = codes.QUANTITY_LABS[codes.GLUCOSE]
            value = lab_value(self.rng, lab, 0.0)
            self.add(lab_quantity(self.src, visit, lab, value, visit.start, "entered-in-error"))
        elif error == "MedicationRequest":
            style = self.rng.choice(self.src.flavor.med_styles)
            drug = self.rng.choice(codes.OVER_THE_COUNTER)
            self.add(
                medication_request(self.src, visit, drug, style, "entered-in-error", self.catalog)
            )
        else:
            vaccine = self.rng.choice(codes.FLU)
            self.add(immunization(self.src, visit, vaccine, "entered-in-error", True))


def build_history(src: Source, error: ErrorType | None) -> list[Generated]:
    """The tagged resources one source holds for its patient (Patient and Organization excluded)."""
    return HistoryBuilder(src).build(error)
