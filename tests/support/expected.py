"""Independent oracle: expected distinct-resource counts per curated table, from the raw files.

It re-implements the pipeline's selection rules with plain ``json``/``gzip`` (deliberately no
``healthex_pipeline`` import) so pipeline tests compare against a second, simple implementation:

- ``*.json``: a Bundle yields its ``entry[].resource`` (entries without one skipped), anything
  else is one resource; ``_index.json`` (sandbox request index) is not data.
- ``*.ndjson``, ``*.ndjson.gz``, ``*.phr``: one resource per non-blank line; ``log.ndjson``
  (bulk-export log) is not FHIR.
- Files or lines that are not JSON, or not an object with a string ``resourceType``, are skipped
  (the pipeline quarantines them); OperationOutcomes belong to no table.
- ``lab_results``: Observation with a category coding of code ``laboratory`` (category is an
  array in R4, one object in DSTU2); ``medications``: MedicationRequest, MedicationStatement,
  MedicationOrder, MedicationAdministration; ``immunizations``: Immunization; ``encounters``:
  Encounter; ``conditions``: Condition; ``procedures``: Procedure; ``allergies``:
  AllergyIntolerance; ``clinical_notes``: DocumentReference, and DiagnosticReport with a
  non-empty ``presentedForm``; ``patients``: Patient.
- Status ``entered-in-error`` is excluded and tallied separately; so is a verification status
  ``entered-in-error`` (a code in DSTU2, a CodeableConcept in R4), the only way Condition and R4
  AllergyIntolerance mark it.
- A resource whose date fields that its table reads are not JSON strings, or whose quantity
  values are neither JSON numbers nor numeric strings, is quarantined by the pipeline ("value
  does not cast") and not counted (fasten's ``JohnDoe.phr`` has a lab whose ``issued`` is
  epoch milliseconds). So is a medication whose first dosage has a dose amount or timing
  frequency/period that is not numeric, or an ``asNeededBoolean`` (or DSTU2 ``wasNotTaken``)
  that is not a boolean. So is a note whose shown attachment (inline text/plain, else other
  inline text/*, else any inline data, else the first) carries ``data`` that is not base64.
- Counts are distinct ``(resourceType, id)``; a resource without an id counts once each. A lab
  Observation counts as rows: one per ``component`` entry, plus one for its own value unless it
  has components and no ``value[x]`` (no set has a laboratory Observation with components: only
  vital-sign and survey panels carry them, so lab rows equal lab resources in every set).

Counts (``python -m tests.support.expected``; excluded as entered-in-error in brackets):

=============== =========== =========== ============= ==========
set             lab_results medications immunizations encounters
=============== =========== =========== ============= ==========
synthea-r4      133 [0]     25 [0]      79 [0]        96 [0]
synthea-dstu2   11 [0]      0 [0]       22 [0]        7 [0]
pathling-ndjson 984 [0]     51 [0]      102 [0]       217 [0]
smart-ndjson    0 [0]       1745 [0]    161 [0]       1215 [0]
apple-health    1 [0]       1 [0]       0 [0]         0 [0]
fasten          7 [0]       5 [0]       7 [0]         3 [0]
epic-r4         0 [0]       2 [0]       7 [0]         0 [0]
cerner-r4       0 [0]       0 [0]       0 [0]         68 [0]
=============== =========== =========== ============= ==========

=============== ========== ========== ========= ============== ========
set             conditions procedures allergies clinical_notes patients
=============== ========== ========== ========= ============== ========
synthea-r4      68 [0]     74 [0]     10 [0]    0 [0]          5 [0]
synthea-dstu2   0 [0]      5 [0]      0 [0]     0 [0]          1 [0]
pathling-ndjson 71 [0]     139 [0]    3 [0]     0 [0]          9 [0]
smart-ndjson    555 [0]    2056 [0]   11 [0]    1215 [0]       13 [0]
apple-health    0 [0]      0 [0]      0 [0]     0 [0]          0 [0]
fasten          6 [0]      3 [0]      2 [0]     10 [0]         4 [0]
epic-r4         0 [0]      0 [0]      1 [0]     1 [0]          1 [0]
cerner-r4       0 [0]      0 [0]      0 [0]     0 [0]          1 [0]
=============== ========== ========== ========= ============== ========

No set contains entered-in-error resources, and the only resource without an id is
apple-health's lab Observation (``ref_range_text.json``, which also lacks ``status``). Ids are
unique within each set except where one resource was delivered twice: fasten's DocumentReference
``206130480`` and epic-r4's Patient, each counted once. No DiagnosticReport in any set has a
``presentedForm``, so the notes are all DocumentReferences. Both fasten ``*_broken_parse.json``
files are valid JSON and are counted.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.fixture_sets import FIXTURE_SETS, fixture_dir

TABLES = (
    "lab_results",
    "medications",
    "immunizations",
    "encounters",
    "conditions",
    "procedures",
    "allergies",
    "clinical_notes",
    "patients",
)
_TABLE_OF_TYPE = {
    "MedicationRequest": "medications",
    "MedicationStatement": "medications",
    "MedicationOrder": "medications",
    "MedicationAdministration": "medications",
    "Immunization": "immunizations",
    "Encounter": "encounters",
    "Condition": "conditions",
    "Procedure": "procedures",
    "AllergyIntolerance": "allergies",
    "DocumentReference": "clinical_notes",
    "Patient": "patients",
}
_NOT_DATA = frozenset({"_index.json", "log.ndjson"})
ENTERED_IN_ERROR = "entered-in-error"
_LINE_SUFFIXES = (".ndjson", ".ndjson.gz", ".phr")

Resource = dict[str, Any]


@dataclass(frozen=True)
class Tally:
    """Distinct kept resources and entered-in-error exclusions, both per table."""

    counts: dict[str, int]
    entered_in_error: dict[str, int]


def _as_resource(value: object) -> Resource | None:
    """Return the value when it is a JSON object with a string resourceType, else None."""
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return value
    return None


def _loads(data: bytes) -> object:
    """Parse JSON; unparsable input (bad JSON or UTF-8) is None, as the pipeline quarantines it."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def _json_file_resources(path: Path) -> Iterator[Resource]:
    """Yield a Bundle's entry resources, or the file itself when it is a single resource."""
    document = _as_resource(_loads(path.read_bytes()))
    if document is None:
        return
    if document["resourceType"] != "Bundle":
        yield document
        return
    for entry in document.get("entry") or []:
        resource = _as_resource(entry.get("resource")) if isinstance(entry, dict) else None
        if resource is not None:
            yield resource


def _line_file_resources(path: Path) -> Iterator[Resource]:
    """Yield one resource per non-blank NDJSON line (gzip-compressed when named .gz)."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    for line in data.splitlines():
        resource = _as_resource(_loads(line)) if line.strip() else None
        if resource is not None:
            yield resource


def iter_resources(root: Path) -> Iterator[Resource]:
    """Yield every FHIR resource found in the data files below ``root``, in path order."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name in _NOT_DATA:
            continue
        if path.name.endswith(".json"):
            yield from _json_file_resources(path)
        elif path.name.endswith(_LINE_SUFFIXES):
            yield from _line_file_resources(path)


def _is_laboratory(observation: Resource) -> bool:
    """Whether any category (list in R4, single object in DSTU2) has the code ``laboratory``."""
    categories = observation.get("category") or []
    if isinstance(categories, dict):
        categories = [categories]
    return any(
        isinstance(coding, dict) and coding.get("code") == "laboratory"
        for category in categories
        if isinstance(category, dict)
        for coding in category.get("coding") or []
    )


# Fields each table reads that FHIR types as date/dateTime/instant (strings) or decimal (numbers).
_DATE_FIELDS: dict[str, tuple[str, ...]] = {
    "lab_results": ("effectiveDateTime", "effectiveInstant", "issued"),
    "medications": ("authoredOn", "dateWritten", "dateAsserted", "effectiveDateTime"),
    "immunizations": ("occurrenceDateTime", "date"),
    "encounters": (),
    "conditions": ("onsetDateTime", "abatementDateTime", "recordedDate", "dateRecorded"),
    "procedures": ("performedDateTime",),
    "allergies": ("onsetDateTime", "onset", "recordedDate"),
    "clinical_notes": ("date", "created", "indexed", "effectiveDateTime", "issued"),
    "patients": ("birthDate",),
}
# Dates inside a Period each table reads: (period field, its start and/or end).
_PERIOD_FIELDS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "medications": (("effectivePeriod", ("start",)),),
    "encounters": (("period", ("start", "end")),),
    "conditions": (("onsetPeriod", ("start",)), ("abatementPeriod", ("start",))),
    "procedures": (("performedPeriod", ("start", "end")),),
    "allergies": (("onsetPeriod", ("start",)),),
    "clinical_notes": (("effectivePeriod", ("start",)),),
}


def _has_malformed_values(resource: Resource, table: str) -> bool:
    """Whether a read field has the wrong JSON type (a number for a date, text for a decimal)."""
    dates = [resource.get(name) for name in _DATE_FIELDS[table]]
    for field, ends in _PERIOD_FIELDS.get(table, ()):
        period = resource.get(field)
        if isinstance(period, dict):
            dates += [period.get(end) for end in ends]
    if any(value is not None and not isinstance(value, str) for value in dates):
        return True
    if table == "clinical_notes" and not _is_base64(_shown_attachment(resource).get("data")):
        return True
    if table == "medications" and (
        _has_malformed_dosage(resource) or not isinstance(resource.get("wasNotTaken", False), bool)
    ):
        return True
    quantity = resource.get("valueQuantity")
    value = quantity.get("value") if isinstance(quantity, dict) else None
    return value is not None and not _is_decimal(value)


def _first_dosage(resource: Resource) -> dict[str, Any]:
    """The dosage the medication row describes: the first of ``dosageInstruction``/``dosage``.

    MedicationAdministration's ``dosage`` is one object, the others' a list.
    """
    found = resource.get("dosageInstruction", resource.get("dosage"))
    if isinstance(found, list):
        found = found[0] if found else None
    return found if isinstance(found, dict) else {}


def _has_malformed_dosage(resource: Resource) -> bool:
    """Whether the first dosage's dose amount, timing numbers or as-needed flag do not cast.

    The amount is R4's first ``doseAndRate[].doseQuantity``, DSTU2's ``doseQuantity`` (orders) or
    ``quantityQuantity`` (statements), or an administration's ``dose``.
    """
    dosage = _first_dosage(resource)
    rates = [r for r in dosage.get("doseAndRate") or [] if isinstance(r, dict)]
    quantities = [r["doseQuantity"] for r in rates if "doseQuantity" in r][:1]
    quantities += [dosage.get(name) for name in ("doseQuantity", "quantityQuantity", "dose")]
    amounts = [q.get("value") for q in quantities if isinstance(q, dict)]
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    repeat = repeat if isinstance(repeat, dict) else {}
    frequency, period = repeat.get("frequency"), repeat.get("period")
    as_needed = dosage.get("asNeededBoolean")
    return (
        any(value is not None and not _is_decimal(value) for value in amounts)
        or (period is not None and not _is_decimal(period))
        or (frequency is not None and not _is_integer(frequency))
        or (as_needed is not None and not isinstance(as_needed, bool))
    )


def _is_integer(value: object) -> bool:
    """A JSON integer (``2.0`` too), or an integer string, as an integer column accepts."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+(\.0*)?\s*", value) is not None


def _attachments(resource: Resource) -> list[dict[str, Any]]:
    """A note's attachments: DocumentReference ``content[].attachment`` or ``presentedForm``."""
    if resource["resourceType"] == "DiagnosticReport":
        found = resource.get("presentedForm") or []
    else:
        found = [c.get("attachment") for c in resource.get("content") or [] if isinstance(c, dict)]
    return [a for a in found if isinstance(a, dict)]


def _shown_attachment(resource: Resource) -> dict[str, Any]:
    """The attachment the note row shows: inline text/plain, other inline text, inline, first."""

    def rank(indexed: tuple[int, dict[str, Any]]) -> tuple[bool, bool, bool, int]:
        index, attachment = indexed
        content_type = str(attachment.get("contentType") or "").lower()
        is_text = content_type.startswith("text/")
        is_plain = content_type.startswith("text/plain")
        return (attachment.get("data") is None, not is_text, not is_plain, index)

    ranked = sorted(enumerate(_attachments(resource)), key=rank)
    return ranked[0][1] if ranked else {}


def _is_base64(value: object) -> bool:
    """Absent, or base64 text (whitespace allowed, as in wrapped base64)."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode("".join(value.split()), validate=True)
    except ValueError:
        return False
    return True


def _is_decimal(value: object) -> bool:
    """A JSON number, or a numeric string (accepted and normalized, as some vendors send)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        return isinstance(value, str) and math.isfinite(float(value))
    except ValueError:
        return False


def table_of(resource: Resource) -> str | None:
    """Name the curated table the resource belongs to, or None."""
    if resource["resourceType"] == "Observation":
        return "lab_results" if _is_laboratory(resource) else None
    if resource["resourceType"] == "DiagnosticReport":
        return "clinical_notes" if _attachments(resource) else None
    return _TABLE_OF_TYPE.get(resource["resourceType"])


def is_entered_in_error(resource: Resource) -> bool:
    """Status, or verification status (a code in DSTU2, a CodeableConcept in R4), says so."""
    if resource.get("status") == ENTERED_IN_ERROR:
        return True
    verification = resource.get("verificationStatus")
    if isinstance(verification, dict):
        codings = verification.get("coding") or []
        return any(isinstance(c, dict) and c.get("code") == ENTERED_IN_ERROR for c in codings)
    return verification == ENTERED_IN_ERROR


def lab_rows(observation: Resource) -> int:
    """Rows a lab Observation makes: one per component, and one for its own value, if any."""
    components = [c for c in observation.get("component") or [] if isinstance(c, dict)]
    has_value = any(name.startswith("value") for name in observation)
    return len(components) + (1 if has_value or not components else 0)


def tally(root: Path) -> Tally:
    """Count distinct kept and entered-in-error resources per table for the files below root.

    Labs count rows (``lab_rows`` of the resource's last occurrence) rather than resources.
    """
    kept: dict[str, set[tuple[str, str | int]]] = {table: set() for table in TABLES}
    dropped: dict[str, set[tuple[str, str | int]]] = {table: set() for table in TABLES}
    rows: dict[tuple[str, str | int], int] = {}
    for ordinal, resource in enumerate(iter_resources(root)):
        table = table_of(resource)
        if table is None:
            continue
        resource_id = resource.get("id")
        key_id: str | int = resource_id if isinstance(resource_id, str) and resource_id else ordinal
        if _has_malformed_values(resource, table):
            continue
        target = dropped if is_entered_in_error(resource) else kept
        target[table].add((resource["resourceType"], key_id))
        if table == "lab_results":
            rows[(resource["resourceType"], key_id)] = lab_rows(resource)

    def count(table: str, keys: set[tuple[str, str | int]]) -> int:
        return sum(rows[key] for key in keys) if table == "lab_results" else len(keys)

    return Tally(
        counts={table: count(table, keys) for table, keys in kept.items()},
        entered_in_error={table: count(table, keys) for table, keys in dropped.items()},
    )


@cache
def _tally_set(name: str) -> Tally:
    """Tally a named fixture set once per process."""
    return tally(fixture_dir(name))


def expected_counts(name: str) -> dict[str, int]:
    """Expected distinct rows per curated table for the named fixture set."""
    return dict(_tally_set(name).counts)


def entered_in_error_counts(name: str) -> dict[str, int]:
    """Resources per table the pipeline must drop as entered-in-error for the named set."""
    return dict(_tally_set(name).entered_in_error)


def main() -> None:
    """Print the counts of every available set (the table in this module's docstring)."""
    for name in FIXTURE_SETS:
        if not fixture_dir(name).is_dir():
            print(f"{name}: absent")
            continue
        result = _tally_set(name)
        cells = (f"{t}={result.counts[t]} [{result.entered_in_error[t]}]" for t in TABLES)
        print(f"{name}: " + "  ".join(cells))


if __name__ == "__main__":
    main()
