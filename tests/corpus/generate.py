"""Write the bad-input corpus: hostile and malformed files with the outcome each must have.

Deterministic (no randomness, no clock): the same code writes the same bytes, which
``tests/pipeline/test_corpus.py`` checks against the committed copy. Every resource is synthetic
and every id carries its case's name, so cases imported together never touch each other's rows.

Small cases are committed under ``cases/<case>/``; cases whose size is the point (``large``: the
1 MB strings, the huge bundle) are written only at test time into a temporary folder, by the same
functions, so the repository stays small. The gzip bomb is committed: 16 MiB inflate from 16 kB.

Outcomes:
- ``reject_file``: the whole file is quarantined (locator ``file`` or ``document``); the case's
  other input still lands.
- ``quarantine_resource``: one line, entry, member or curated row is quarantined and the rest of
  the same file lands.
- ``accept_normalized``: nothing is quarantined; the odd input lands as its normalized rows.
- ``exclude_with_count``: rows are left out on purpose and counted in run metadata.

Run ``python -m tests.corpus.generate`` to rewrite the committed corpus.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CASES_DIR = "cases"
EXPECTED = "expected.json"

REJECT_FILE = "reject_file"
QUARANTINE_RESOURCE = "quarantine_resource"
ACCEPT_NORMALIZED = "accept_normalized"
EXCLUDE_WITH_COUNT = "exclude_with_count"
OUTCOMES = (REJECT_FILE, QUARANTINE_RESOURCE, ACCEPT_NORMALIZED, EXCLUDE_WITH_COUNT)

Resource = dict[str, Any]


@dataclass(frozen=True)
class Quarantined:
    """One quarantine row a case must produce: in which of its files, where, and why."""

    file: str
    locator: str
    reason: str


@dataclass(frozen=True)
class Case:
    """One corpus case: its files, the outcome, and what must still land."""

    name: str
    outcome: str
    description: str
    files: dict[str, bytes]
    quarantined: tuple[Quarantined, ...] = ()
    good_rows: dict[str, int] = field(default_factory=dict)
    """Curated rows per table that must land from the case's files (tables not named: 0)."""
    excluded: dict[str, int] = field(default_factory=dict)
    """Run metadata counts, ``<asset>.<key>``, that the case's exclusions must add up to."""
    connector: str = "healthex"
    large: bool = False

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "description": self.description,
            "connector": self.connector,
            "large": self.large,
            "files": sorted(self.files),
            "quarantined": [q.__dict__ for q in self.quarantined],
            "good_rows": dict(sorted(self.good_rows.items())),
            "excluded": dict(sorted(self.excluded.items())),
        }


# --- synthetic resources -------------------------------------------------------------------


def _rid(case: str, kind: str, n: int = 1) -> str:
    return f"{case.replace('_', '-')}-{kind}-{n}"


def lab(case: str, n: int = 1, **changes: Any) -> Resource:
    """A laboratory Observation every table contract accepts."""
    resource: Resource = {
        "resourceType": "Observation",
        "id": _rid(case, "lab", n),
        "meta": {"lastUpdated": "2024-01-02T03:04:05Z"},
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "subject": {"reference": "Patient/synthetic-1"},
        "effectiveDateTime": "2024-01-02T03:04:05Z",
        "valueQuantity": {
            "value": 95 + n,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    }
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def condition(case: str, n: int = 1, **changes: Any) -> Resource:
    """A problem-list Condition coded in SNOMED CT."""
    resource: Resource = {
        "resourceType": "Condition",
        "id": _rid(case, "condition", n),
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"}
            ]
        },
        "subject": {"reference": "Patient/synthetic-1"},
        "onsetDateTime": "2020-05-06",
    }
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def medication_request(case: str, n: int = 1, **changes: Any) -> Resource:
    """An active MedicationRequest coded in RxNorm."""
    resource: Resource = {
        "resourceType": "MedicationRequest",
        "id": _rid(case, "medreq", n),
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "860975",
                    "display": "metformin 500 MG Oral Tablet",
                }
            ]
        },
        "subject": {"reference": "Patient/synthetic-1"},
        "authoredOn": "2024-01-02",
    }
    resource.update(changes)
    return {k: v for k, v in resource.items() if v is not None}


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8 as sent (not escaped), keys in the order written."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def bundle(*entries: Any, bundle_type: str = "collection") -> Resource:
    """A Bundle whose entries are given resources (wrapped) or raw entry objects (``Entry``)."""
    return {
        "resourceType": "Bundle",
        "type": bundle_type,
        "entry": [e.value if isinstance(e, Entry) else {"resource": e} for e in entries],
    }


@dataclass(frozen=True)
class Entry:
    """A raw bundle entry, for entries that are not ``{"resource": <resource>}``."""

    value: Any


def ndjson(*lines: Any, sep: bytes = b"\n") -> bytes:
    """NDJSON from resources (dumped) or raw bytes (as given), each line ended by ``sep``."""
    return b"".join((line if isinstance(line, bytes) else dumps(line)) + sep for line in lines)


def gz(data: bytes) -> bytes:
    """Gzip with a fixed mtime, so the bytes are reproducible."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def zipped(members: dict[str, bytes]) -> bytes:
    """A zip with fixed timestamps, members in the order given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def nested_extension(depth: int) -> Resource:
    """An extension holding an extension, ``depth`` times (two JSON levels each)."""
    inner: Resource = {"url": "http://example.org/fhir/leaf", "valueString": "leaf"}
    for level in range(depth):
        inner = {"url": f"http://example.org/fhir/level-{level}", "extension": [inner]}
    return inner


GOOD_FILE = "good.json"
LAB_ONE = {"lab_results": 1}


def _with_good(case: str, name: str, data: bytes) -> dict[str, bytes]:
    """The bad file plus a file holding one good lab, which must land beside a rejected file."""
    return {name: data, GOOD_FILE: dumps(lab(case, 99))}


# --- cases ---------------------------------------------------------------------------------


def _reject_file_cases() -> list[Case]:
    def case(
        name: str, description: str, file: str, data: bytes, locator: str, reason: str
    ) -> Case:
        return Case(
            name,
            REJECT_FILE,
            description,
            _with_good(name, file, data),
            (Quarantined(file, locator, reason),),
            LAB_ONE,
        )

    def bad_json(name: str) -> bytes:
        return dumps(lab(name))

    utf16 = dumps(lab("json_utf16_bom")).decode()
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb_bytes = bomb.compress(b" " * (16 << 20)) + bomb.flush()
    return [
        case(
            "json_truncated",
            "a document cut off mid-object",
            "truncated.json",
            bad_json("json_truncated")[:-40],
            "document",
            "invalid JSON",
        ),
        case(
            "json_utf16_bom",
            "UTF-16 with a byte order mark: FHIR JSON is UTF-8",
            "utf16.json",
            utf16.encode("utf-16"),
            "file",
            "invalid UTF-8",
        ),
        case(
            "json_utf16_no_bom",
            "UTF-16LE without a byte order mark decodes as UTF-8 full of NUL bytes",
            "utf16le.json",
            bad_json("json_utf16_no_bom").decode().encode("utf-16-le"),
            "document",
            "invalid JSON",
        ),
        case(
            "json_invalid_utf8",
            "a Latin-1 byte inside a string",
            "latin1.json",
            bad_json("json_invalid_utf8").replace(b"Glucose", b"Gluc\xf6se"),
            "file",
            "invalid UTF-8",
        ),
        case(
            "json_nan",
            "a NaN number, which JSON does not have",
            "nan.json",
            bad_json("json_nan").replace(b'"value":96', b'"value":NaN'),
            "document",
            "invalid JSON",
        ),
        case(
            "json_infinity",
            "an Infinity number, which JSON does not have",
            "infinity.json",
            bad_json("json_infinity").replace(b'"value":96', b'"value":-Infinity'),
            "document",
            "invalid JSON",
        ),
        case("json_empty", "zero bytes", "empty.json", b"", "file", "empty file"),
        case(
            "json_whitespace",
            "only whitespace and a BOM",
            "blank.json",
            b"\xef\xbb\xbf \r\n\t\n",
            "file",
            "empty file",
        ),
        case(
            "json_null",
            "the JSON literal null",
            "null.json",
            b"null",
            "document",
            "not a JSON object",
        ),
        case(
            "json_array",
            "a JSON array of resources instead of a Bundle",
            "array.json",
            dumps([lab("json_array")]),
            "document",
            "not a JSON object",
        ),
        case(
            "json_scalar",
            "a JSON string",
            "scalar.json",
            b'"Observation"',
            "document",
            "not a JSON object",
        ),
        case(
            "json_concatenated",
            "two documents back to back in a .json file",
            "two.json",
            bad_json("json_concatenated") + dumps(lab("json_concatenated", 2)),
            "document",
            "invalid JSON",
        ),
        case(
            "json_raw_nul_byte",
            "a raw NUL byte inside a string",
            "nul.json",
            bad_json("json_raw_nul_byte").replace(b"Glucose", b"Glu\x00cose"),
            "document",
            "invalid JSON",
        ),
        case(
            "bundle_entry_not_array",
            "a Bundle whose entry is an object, not an array",
            "bundle.json",
            dumps({"resourceType": "Bundle", "type": "collection", "entry": {"resource": {}}}),
            "document",
            "bundle entry is not an array",
        ),
        case(
            "gzip_truncated",
            "a gzip stream cut off",
            "labs.ndjson.gz",
            gz(ndjson(lab("gzip_truncated")))[:-12],
            "file",
            "corrupt gzip stream",
        ),
        case(
            "gzip_bomb",
            "16 MiB of spaces in 16 kB of gzip",
            "bomb.ndjson.gz",
            bomb_bytes,
            "file",
            "compression ratio exceeds the configured limit",
        ),
        case(
            "nesting_bomb",
            "arrays nested 10000 deep",
            "deep.json",
            b"[" * 10_000 + b"]" * 10_000,
            "document",
            "nesting exceeds the configured limit",
        ),
        case(
            "nesting_deep_extensions_document",
            "a single resource whose extensions nest 200 deep",
            "deep-extension.json",
            dumps(lab("nesting_deep_extensions_document", extension=[nested_extension(200)])),
            "document",
            "nesting exceeds the configured limit",
        ),
        Case(
            "zip_without_clinical_records",
            REJECT_FILE,
            "an Apple Health export zip with no clinical-records folder",
            {
                "export.zip": zipped({"apple_health_export/export.xml": b"<HealthData/>"}),
                "clinical-records/good.json": dumps(lab("zip_without_clinical_records", 99)),
            },
            (
                Quarantined(
                    "export.zip", "file", "zip archive has no clinical-records/*.json member"
                ),
            ),
            LAB_ONE,
            connector="apple_health",
        ),
    ]


def _corrupt_zip_member(case: str) -> bytes:
    """An export zip whose second member's bytes were damaged (its CRC no longer matches)."""
    data = bytearray(
        zipped(
            {
                "apple_health_export/clinical-records/a.json": dumps(lab(case, 1)),
                "apple_health_export/clinical-records/b.json": b" " * 64 + dumps(lab(case, 2)),
            }
        )
    )
    marker = b"apple_health_export/clinical-records/b.json"
    start = data.index(marker) + len(marker)  # the local header's name, then the deflate data
    data[start + 4] ^= 0xFF
    return bytes(data)


def _quarantine_resource_cases() -> list[Case]:
    def in_bundle(name: str, description: str, bad: Any, reason: str, index: int = 2) -> Case:
        entries: list[Any] = [lab(name, 1), lab(name, 2)]
        entries.insert(index - 1, bad)
        return Case(
            name,
            QUARANTINE_RESOURCE,
            description,
            {"bundle.json": dumps(bundle(*entries))},
            (Quarantined("bundle.json", f"document entry {index}", reason),),
            {"lab_results": 2},
        )

    def bad_line(name: str, description: str, line: bytes, reason: str, file: str) -> Case:
        data = ndjson(lab(name, 1), line, lab(name, 2))
        return Case(
            name,
            QUARANTINE_RESOURCE,
            description,
            {file: gz(data) if file.endswith(".gz") else data},
            (Quarantined(file, "line 2", reason),),
            {"lab_results": 2},
        )

    def bad_row(
        name: str, description: str, reason: str, table: str = "lab_results", **changes: Any
    ) -> Case:
        make = condition if table == "conditions" else lab
        return Case(
            name,
            QUARANTINE_RESOURCE,
            description,
            {"resources.ndjson": ndjson(make(name, 1), make(name, 2, **changes))},
            (Quarantined("resources.ndjson", "curated row", reason),),
            {table: 1},
        )

    return [
        bad_line(
            "ndjson_bad_line",
            "one NDJSON line that is not JSON",
            b'{"resourceType": "Observation", "id":',
            "invalid JSON",
            "labs.ndjson",
        ),
        bad_line(
            "ndjson_invalid_utf8_line",
            "one NDJSON line with a byte that is not UTF-8",
            dumps(lab("ndjson_invalid_utf8_line", 3)).replace(b"Glucose", b"Gluc\xf6se"),
            "invalid UTF-8",
            "labs.ndjson",
        ),
        bad_line(
            "ndjson_nan_line",
            "one NDJSON line with a NaN value",
            dumps(lab("ndjson_nan_line", 3)).replace(b'"value":98', b'"value":NaN'),
            "invalid JSON",
            "labs.ndjson",
        ),
        bad_line(
            "ndjson_gz_bad_line",
            "gzipped NDJSON with one line that is not JSON",
            b"{oops",
            "invalid JSON",
            "labs.ndjson.gz",
        ),
        bad_line(
            "ndjson_deep_extensions_line",
            "one NDJSON line whose extensions nest 200 deep",
            dumps(lab("ndjson_deep_extensions_line", 3, extension=[nested_extension(200)])),
            "nesting exceeds the configured limit",
            "labs.ndjson",
        ),
        bad_line(
            "ndjson_array_line",
            "one NDJSON line holding an array",
            b"[1, 2, 3]",
            "not a JSON object",
            "labs.ndjson",
        ),
        in_bundle(
            "entry_missing_resource_type",
            "a bundle entry whose resource has no resourceType",
            {"id": "entry-missing-resource-type-x", "status": "final"},
            "missing resourceType",
        ),
        in_bundle(
            "entry_unknown_resource_type",
            "a bundle entry of a resource type FHIR does not define",
            {"resourceType": "Observashun", "id": "entry-unknown-resource-type-x"},
            "unknown resourceType",
        ),
        in_bundle(
            "entry_resource_type_wrong_case",
            "resourceType in the wrong case",
            lab("entry_resource_type_wrong_case", 3, resourceType="observation"),
            "unknown resourceType",
        ),
        in_bundle(
            "entry_resource_type_number",
            "resourceType that is a number",
            {"resourceType": 42, "id": "entry-resource-type-number-x"},
            "resourceType is not a string",
        ),
        in_bundle(
            "entry_resource_type_null",
            "resourceType that is null",
            {"resourceType": None, "id": "entry-resource-type-null-x"},
            "resourceType is not a string",
        ),
        in_bundle(
            "entry_without_resource",
            "a bundle entry with only a fullUrl",
            Entry({"fullUrl": "urn:uuid:00000000-0000-0000-0000-000000000001"}),
            "bundle entry without resource",
            index=1,
        ),
        in_bundle(
            "entry_resource_is_array",
            "a bundle entry whose resource is an array",
            Entry({"resource": [lab("entry_resource_is_array", 3)]}),
            "not a JSON object",
        ),
        in_bundle(
            "entry_nested_bundle",
            "a Bundle inside a Bundle: its labs would be silently lost",
            bundle(lab("entry_nested_bundle", 3)),
            "nested bundle",
        ),
        in_bundle(
            "id_not_string",
            "an id that is a number",
            lab("id_not_string", 3, id=12345),
            "id is not a string",
        ),
        in_bundle(
            "id_with_slash",
            "an id with a slash, which makes references ambiguous",
            lab("id_with_slash", 3, id="id-with-slash/../lab-3"),
            "id is not a valid FHIR id",
        ),
        in_bundle(
            "id_empty",
            "an empty id",
            lab("id_empty", 3, id=""),
            "id is not a valid FHIR id",
        ),
        in_bundle(
            "id_with_control_characters",
            "an id with a tab and a NUL",
            lab("id_with_control_characters", 3, id="id-with-control\t\u0000-3"),
            "id is not a valid FHIR id",
        ),
        bad_row(
            "value_wrong_type",
            "a quantity value that is a string",
            "value does not cast: value_quantity_value",
            valueQuantity={"value": "ninety", "unit": "mg/dL"},
        ),
        bad_row(
            "value_integer_overflow",
            "valueInteger beyond 64 bits",
            "value does not cast: value_integer",
            valueQuantity=None,
            valueInteger=10**30,
        ),
        bad_row(
            "value_absurd_double",
            "a quantity beyond the range of a double",
            "value does not cast: value_quantity_value",
            valueQuantity={"value": "1e400", "unit": "mg/dL"},
        ),
        bad_row(
            "status_wrong_type",
            "a status that is an object",
            "value does not cast: status",
            status={"code": "final"},
        ),
        bad_row(
            "date_impossible",
            "February 30th",
            "value does not cast: effective_at",
            effectiveDateTime="2024-02-30T10:00:00Z",
        ),
        bad_row(
            "date_garbage",
            "a date that is a word",
            "value does not cast: effective_datetime",
            effectiveDateTime="yesterday",
        ),
        bad_row(
            "date_future",
            "a result dated in the year 2999",
            "effective_at: not_in_future",
            effectiveDateTime="2999-01-01T00:00:00Z",
        ),
        bad_row(
            "date_before_1900",
            "a result dated 1850",
            "effective_at: not_before_1900",
            effectiveDateTime="1850-01-01T00:00:00Z",
        ),
        bad_row(
            "lab_missing_code",
            "a lab without code",
            "lab_results: has_code",
            code=None,
        ),
        bad_row(
            "condition_missing_code",
            "a condition without code",
            "conditions: has_code",
            table="conditions",
            code=None,
        ),
        Case(
            "zip_corrupt_member",
            QUARANTINE_RESOURCE,
            "an export zip with one damaged member",
            {"export.zip": _corrupt_zip_member("zip_corrupt_member")},
            (Quarantined("export.zip", "zip member 2", "corrupt zip member"),),
            LAB_ONE,
            connector="apple_health",
        ),
    ]


LOINC_GLUCOSE = {"system": "http://loinc.org", "code": "2345-7"}
RTL = "\u202egnp.exe \u05d2\u05dc\u05d5\u05e7\u05d5\u05d6 \u063a\u0644\u0648\u0643\u0648\u0632"


def _accept_cases() -> list[Case]:
    def accept(
        name: str,
        description: str,
        files: dict[str, bytes],
        good_rows: dict[str, int] | None = None,
    ) -> Case:
        return Case(name, ACCEPT_NORMALIZED, description, files, (), good_rows or LAB_ONE)

    def labs(name: str, *resources: Resource) -> dict[str, bytes]:
        return {"labs.json": dumps(bundle(*resources))}

    return [
        accept(
            "json_bom",
            "a UTF-8 byte order mark",
            {"bom.json": b"\xef\xbb\xbf" + dumps(lab("json_bom"))},
        ),
        accept(
            "ndjson_crlf",
            "NDJSON with CRLF line ends",
            {"labs.ndjson": ndjson(lab("ndjson_crlf", 1), lab("ndjson_crlf", 2), sep=b"\r\n")},
            {"lab_results": 2},
        ),
        accept(
            "ndjson_blank_lines",
            "NDJSON with blank and whitespace-only lines, no final newline",
            {
                "labs.ndjson": b"\n"
                + ndjson(lab("ndjson_blank_lines", 1), b"   \t", b"", lab("ndjson_blank_lines", 2))
                + dumps(lab("ndjson_blank_lines", 3))
            },
            {"lab_results": 3},
        ),
        accept(
            "ndjson_bom",
            "NDJSON starting with a byte order mark",
            {"labs.ndjson": b"\xef\xbb\xbf" + ndjson(lab("ndjson_bom", 1), lab("ndjson_bom", 2))},
            {"lab_results": 2},
        ),
        accept(
            "duplicate_id_different_content",
            "one id twice with different values: the newest lastUpdated wins",
            labs(
                "duplicate_id_different_content",
                lab("duplicate_id_different_content", meta={"lastUpdated": "2024-03-01T00:00:00Z"}),
                lab(
                    "duplicate_id_different_content",
                    valueQuantity={"value": 150, "unit": "mg/dL"},
                    meta={"lastUpdated": "2024-01-01T00:00:00Z"},
                ),
            ),
        ),
        accept(
            "duplicate_id_same_content",
            "one resource twice, byte for byte",
            labs(
                "duplicate_id_same_content",
                lab("duplicate_id_same_content"),
                lab("duplicate_id_same_content"),
            ),
        ),
        accept(
            "resource_without_id",
            "two labs without id get stable synthesized ids",
            labs(
                "resource_without_id",
                lab("resource_without_id", 1, id=None),
                lab("resource_without_id", 2, id=None),
            ),
            {"lab_results": 2},
        ),
        accept(
            "id_with_dot_dot",
            "an id with '..', which FHIR allows and nothing uses as a path",
            labs("id_with_dot_dot", lab("id_with_dot_dot", id="id-with-dot-dot..lab..1")),
        ),
        accept(
            "date_partial",
            "year-only and year-month dates",
            labs(
                "date_partial",
                lab("date_partial", 1, effectiveDateTime="2023"),
                lab("date_partial", 2, effectiveDateTime="2023-07"),
            ),
            {"lab_results": 2},
        ),
        accept(
            "date_with_offset",
            "times with +14:00 and -12:00 offsets",
            labs(
                "date_with_offset",
                lab("date_with_offset", 1, effectiveDateTime="2024-01-02T03:04:05+14:00"),
                lab("date_with_offset", 2, effectiveDateTime="2024-01-02T03:04:05.123-12:00"),
            ),
            {"lab_results": 2},
        ),
        accept(
            "dangling_encounter_reference",
            "a lab pointing at an Encounter that was never delivered",
            labs(
                "dangling_encounter_reference",
                lab(
                    "dangling_encounter_reference",
                    encounter={"reference": "Encounter/never-delivered"},
                ),
            ),
        ),
        accept(
            "dangling_bundle_reference",
            "a lab pointing at a urn:uuid no entry has",
            labs(
                "dangling_bundle_reference",
                lab(
                    "dangling_bundle_reference",
                    encounter={"reference": "urn:uuid:00000000-0000-0000-0000-00000000dead"},
                ),
            ),
        ),
        accept(
            "dangling_medication_reference",
            "a MedicationRequest pointing at a Medication that was never delivered",
            {
                "meds.json": dumps(
                    bundle(
                        medication_request(
                            "dangling_medication_reference",
                            medicationCodeableConcept=None,
                            medicationReference={"reference": "Medication/never-delivered"},
                        )
                    )
                )
            },
            {"medications": 1},
        ),
        accept(
            "condition_missing_subject",
            "a Condition without subject",
            {"conditions.json": dumps(condition("condition_missing_subject", subject=None))},
            {"conditions": 1},
        ),
        accept(
            "observation_missing_category",
            "an Observation without category is not a lab, and no lab row is made of it",
            labs(
                "observation_missing_category",
                lab("observation_missing_category", 1),
                lab("observation_missing_category", 2, category=None),
            ),
        ),
        accept(
            "escaped_nul_in_string",
            "a \\u0000 escape inside a display string",
            labs(
                "escaped_nul_in_string",
                lab(
                    "escaped_nul_in_string",
                    code={
                        "coding": [
                            {"system": "http://loinc.org", "code": "2345-7", "display": "Glu\0cose"}
                        ]
                    },
                ),
            ),
        ),
        accept(
            "rtl_text",
            "right-to-left text with a right-to-left override character",
            labs(
                "rtl_text",
                lab(
                    "rtl_text",
                    code={"coding": [LOINC_GLUCOSE], "text": RTL},
                    note=[{"text": RTL}],
                ),
            ),
        ),
        accept(
            "nested_extensions_within_limit",
            "extensions nested 20 deep, under the limit",
            labs(
                "nested_extensions_within_limit",
                lab("nested_extensions_within_limit", extension=[nested_extension(20)]),
            ),
        ),
        accept(
            "bundle_without_entries",
            "a searchset Bundle with no entry at all",
            {
                "empty.json": dumps({"resourceType": "Bundle", "type": "searchset", "total": 0}),
                GOOD_FILE: dumps(lab("bundle_without_entries", 99)),
            },
        ),
        accept(
            "json_trailing_comma",
            "a trailing comma, which the JSON reader tolerates",
            {"comma.json": dumps(lab("json_trailing_comma"))[:-1] + b",}"},
        ),
    ]


def _exclude_cases() -> list[Case]:
    return [
        Case(
            "entered_in_error_lab",
            EXCLUDE_WITH_COUNT,
            "a lab marked entered-in-error is left out and counted",
            {
                "labs.ndjson": ndjson(
                    lab("entered_in_error_lab", 1),
                    lab("entered_in_error_lab", 2, status="entered-in-error"),
                )
            },
            (),
            LAB_ONE,
            {"lab_results.entered_in_error_excluded": 1},
        ),
        Case(
            "entered_in_error_condition",
            EXCLUDE_WITH_COUNT,
            "a condition marked entered-in-error is left out and counted",
            {
                "conditions.ndjson": ndjson(
                    condition("entered_in_error_condition", 1),
                    condition(
                        "entered_in_error_condition",
                        2,
                        verificationStatus={
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "condition-ver-status",
                                    "code": "entered-in-error",
                                }
                            ]
                        },
                    ),
                )
            },
            (),
            {"conditions": 1},
            {"conditions.entered_in_error_excluded": 1},
        ),
        Case(
            "bundle_operation_outcome",
            EXCLUDE_WITH_COUNT,
            "a searchset with OperationOutcome entries: skipped and counted, not quarantined",
            {
                "search.json": dumps(
                    bundle(
                        lab("bundle_operation_outcome"),
                        Entry(
                            {
                                "resource": {
                                    "resourceType": "OperationOutcome",
                                    "issue": [{"severity": "warning", "code": "incomplete"}],
                                },
                                "search": {"mode": "outcome"},
                            }
                        ),
                        Entry(
                            {
                                "resource": {
                                    "resourceType": "OperationOutcome",
                                    "issue": [{"severity": "information", "code": "informational"}],
                                },
                                "search": {"mode": "outcome"},
                            }
                        ),
                        bundle_type="searchset",
                    )
                )
            },
            (),
            LAB_ONE,
            {"raw_fhir.outcomes_skipped": 2},
        ),
    ]


MEGABYTE_STRING = "x" * (1 << 20)
HUGE_BUNDLE_ENTRIES = 20_000


def _large_cases() -> list[Case]:
    """Cases whose size is the point: written at test time only, never committed."""
    name = "huge_bundle"
    huge = bundle(*(lab(name, n) for n in range(1, HUGE_BUNDLE_ENTRIES + 1)))
    text = lab(
        "string_1mb",
        code={"coding": [LOINC_GLUCOSE], "text": MEGABYTE_STRING},
        note=[{"text": MEGABYTE_STRING}],
    )
    return [
        Case(
            name,
            ACCEPT_NORMALIZED,
            f"a Bundle of {HUGE_BUNDLE_ENTRIES} labs",
            {"huge.json": dumps(huge)},
            (),
            {"lab_results": HUGE_BUNDLE_ENTRIES},
            large=True,
        ),
        Case(
            "string_1mb",
            ACCEPT_NORMALIZED,
            "1 MiB strings in code.text and a note",
            {"big-strings.ndjson": ndjson(text, lab("string_1mb", 2))},
            (),
            {"lab_results": 2},
            large=True,
        ),
    ]


CASE_BUILDERS: tuple[Callable[[], list[Case]], ...] = (
    _reject_file_cases,
    _quarantine_resource_cases,
    _accept_cases,
    _exclude_cases,
    _large_cases,
)


def all_cases() -> list[Case]:
    """Every case, small and large, in a fixed order."""
    cases = [case for build in CASE_BUILDERS for case in build()]
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique"
    return cases


def write_corpus(root: Path, large: bool = False) -> list[Case]:
    """Write ``cases/`` and ``expected.json`` under ``root``; with ``large``, only large cases.

    ``expected.json`` always lists every case, so the committed manifest names the large cases
    too (``"large": true``) even though their files are generated at test time.
    """
    cases = all_cases()
    chosen = [case for case in cases if case.large == large]
    cases_dir = root / CASES_DIR
    if not large and cases_dir.exists():
        shutil.rmtree(cases_dir)
    for case in chosen:
        for name, data in case.files.items():
            path = cases_dir / case.name / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if not large:
        manifest = {"cases": [case.manifest() for case in cases]}
        text = json.dumps(manifest, indent=2, ensure_ascii=True, sort_keys=False) + "\n"
        (root / EXPECTED).write_text(text)
    return chosen


if __name__ == "__main__":
    written = write_corpus(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(written)} cases written, {len(all_cases()) - len(written)} generated at test time")
