"""Seeded synthetic R4 Observations as NDJSON, fast enough to write a million for a benchmark.

The project's generator (``healthex_pipeline.synthetic``) builds whole patient histories, which
is the point for pipeline tests but too slow at this scale; this one reuses its code tables and
CodeableConcept builder and emits the shapes feeds carry: numeric labs (valueQuantity, reference
range, interpretation), coded and text results, vitals, blood-pressure panels (components, no
value[x]), and smoking status.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from healthex_pipeline.synthetic.codes import (
    BLOOD_PRESSURE,
    CODED_LABS,
    DIASTOLIC,
    EGFR,
    EGFR_NORMAL_TEXT,
    INTERPRETATION,
    LOINC,
    LOINC_DISPLAY,
    OBSERVATION_CATEGORY,
    QUANTITY_LABS,
    SMOKING_ANSWERS,
    SMOKING_STATUS,
    SYSTOLIC,
    UCUM,
    VITALS,
    Code,
)
from healthex_pipeline.synthetic.resources import concept

_EPOCH = datetime(2015, 1, 1, tzinfo=UTC)
_SPAN_SECONDS = 10 * 365 * 24 * 3600
_LABS = tuple(QUANTITY_LABS.values())
_VITALS = tuple(VITALS.values())
_CODED = tuple(CODED_LABS.items())
_FLAGS = {"H": "High", "L": "Low", "N": "Normal"}


def _loinc(code: str) -> dict[str, Any]:
    return concept(Code(LOINC, code, LOINC_DISPLAY[code]))


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


class ObservationGenerator:
    """Yields Observations from one seed; same seed and count, same file."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0

    def _base(self, category: tuple[str, str], code: str) -> dict[str, Any]:
        rng = self.rng
        self.serial += 1
        taken = _EPOCH + timedelta(seconds=rng.randrange(_SPAN_SECONDS))
        return {
            "resourceType": "Observation",
            "id": f"obs-{self.serial:08d}",
            "meta": {"versionId": "1", "lastUpdated": taken.isoformat().replace("+00:00", "Z")},
            "status": "final" if rng.random() < 0.97 else "amended",
            "category": _category(*category),
            "code": _loinc(code),
            "subject": {"reference": f"Patient/pat-{rng.randrange(20_000):05d}"},
            "encounter": {"reference": f"Encounter/enc-{rng.randrange(200_000):06d}"},
            "effectiveDateTime": taken.isoformat(),
            "issued": (taken + timedelta(hours=rng.randrange(1, 30))).isoformat(),
        }

    def _quantity_lab(self) -> dict[str, Any]:
        lab = _LABS[self.rng.randrange(len(_LABS))]
        resource = self._base(("laboratory", "Laboratory"), lab.loinc)
        value = round(max(self.rng.gauss(lab.mean, lab.sd), lab.sd / 2), lab.decimals)
        resource["valueQuantity"] = _quantity(value, lab.unit)
        flag = "H" if lab.high and value > lab.high else "L" if lab.low and value < lab.low else "N"
        coding = {"system": INTERPRETATION, "code": flag, "display": _FLAGS[flag]}
        resource["interpretation"] = [{"coding": [coding], "text": _FLAGS[flag]}]
        limits: dict[str, Any] = {}
        if lab.low is not None:
            limits["low"] = _quantity(lab.low, lab.unit)
        if lab.high is not None:
            limits["high"] = _quantity(lab.high, lab.unit)
        resource["referenceRange"] = [limits]
        return resource

    def _coded_lab(self) -> dict[str, Any]:
        code, answers = _CODED[self.rng.randrange(len(_CODED))]
        resource = self._base(("laboratory", "Laboratory"), code)
        resource["valueCodeableConcept"] = concept(answers[self.rng.randrange(len(answers))])
        return resource

    def _text_lab(self) -> dict[str, Any]:
        resource = self._base(("laboratory", "Laboratory"), EGFR)
        resource["valueString"] = EGFR_NORMAL_TEXT
        return resource

    def _vital(self) -> dict[str, Any]:
        vital = _VITALS[self.rng.randrange(len(_VITALS))]
        resource = self._base(("vital-signs", "Vital Signs"), vital.loinc)
        value = round(self.rng.gauss(vital.mean, vital.sd), vital.decimals)
        resource["valueQuantity"] = _quantity(value, vital.unit)
        return resource

    def _blood_pressure(self) -> dict[str, Any]:
        resource = self._base(("vital-signs", "Vital Signs"), BLOOD_PRESSURE)
        resource["component"] = [
            {
                "code": _loinc(SYSTOLIC),
                "valueQuantity": _quantity(round(self.rng.gauss(124, 14)), "mm[Hg]"),
            },
            {
                "code": _loinc(DIASTOLIC),
                "valueQuantity": _quantity(round(self.rng.gauss(79, 9)), "mm[Hg]"),
            },
        ]
        return resource

    def _smoking(self) -> dict[str, Any]:
        resource = self._base(("social-history", "Social History"), SMOKING_STATUS)
        resource["valueCodeableConcept"] = concept(SMOKING_ANSWERS[self.rng.randrange(3)])
        return resource

    def next(self) -> dict[str, Any]:
        """One Observation; labs dominate, as in primary-care feeds."""
        roll = self.rng.random()
        if roll < 0.60:
            return self._quantity_lab()
        if roll < 0.66:
            return self._coded_lab()
        if roll < 0.70:
            return self._text_lab()
        if roll < 0.85:
            return self._vital()
        if roll < 0.97:
            return self._blood_pressure()
        return self._smoking()

    def lines(self, count: int) -> Iterator[bytes]:
        """``count`` NDJSON lines."""
        for _ in range(count):
            yield orjson.dumps(self.next()) + b"\n"


def write_ndjson(path: Path, count: int, seed: int) -> Path:
    """Write ``count`` Observations to ``path`` (gzip when it ends in ``.gz``), in chunks."""
    generator = ObservationGenerator(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:
        remaining = count
        while remaining:
            chunk = min(remaining, 50_000)
            out.write(b"".join(generator.lines(chunk)))
            remaining -= chunk
    return path
