"""Unpack a raw object into one row per FHIR resource, quarantining what is not a resource.

Python only frames the bytes into JSON documents (gzip, zip members, NDJSON lines), with C-level
splits; parsing, bundle unpacking and every per-resource decision run as one DuckDB statement, so
there is no per-resource Python loop. Error reasons name the position, never a value.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from healthex_pipeline.fhir_types import DSTU2_ONLY_RESOURCE_TYPES, KNOWN_RESOURCE_TYPES
from healthex_pipeline.limits import IngestLimits

_LINE_FORMATS = (".ndjson", ".jsonl", ".phr")
R4 = "4.0.1"
DSTU2 = "1.0.2"


class InputRejected(Exception):
    """A whole object cannot be read; the message is PHI-free (a reason, no content)."""


@dataclass(frozen=True)
class Framed:
    """JSON documents cut out of an object, plus documents that failed before parsing."""

    docs: pa.Table  # doc_index, locator, text
    rejected: list[tuple[str, str]]  # (locator, reason)

    @classmethod
    def empty(cls) -> Framed:
        """No documents: what an unreadable object unpacks from."""
        return cls(_docs_table([], []), [])


def _gunzip(data: bytes, limits: IngestLimits) -> bytes:
    """Inflate every gzip member, refusing output past the size and ratio limits.

    Checked so nothing is lost in silence: a stream cut short (no end of stream) is corrupt, and
    concatenated members (which ``gzip`` writes when appending) are all read.
    """
    bound = limits.inflate_bound(len(data))
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        out += inflater.decompress(rest, bound + 1 - len(out))
        if len(out) > bound or inflater.unconsumed_tail:
            raise InputRejected(limits.inflate_reason(len(data)))
        if not inflater.eof:
            raise InputRejected("corrupt gzip stream")
        rest = inflater.unused_data
        if not rest.strip(b"\0"):
            break
    return bytes(out)


# Nesting is screened before DuckDB parses (its reader takes any depth). Strings are cut out
# first (a string never spans a raw newline in valid JSON), so only structure is looked at; every
# step is a C-level regex or bytes operation, and most documents stop at the bracket count.
_STRING = re.compile(rb'"(?:[^"\\\n]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_PAIR = re.compile(rb"\{\}|\[\]")


def _too_deep(raw: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``.

    Innermost pairs are peeled one level per round; pairs left after ``limit`` rounds mean a
    deeper chain. Unbalanced leftovers are invalid JSON, which the parser reports itself.
    """
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    if re.search(rb"[\[{]{%d}" % (limit + 1), skeleton):
        return True
    for _ in range(limit):
        peeled = _PAIR.sub(b"", skeleton)
        if peeled == skeleton:
            return False
        skeleton = peeled
    return _PAIR.search(skeleton) is not None


# DuckDB's reader also takes NaN and Infinity in any case, which JSON does not have. C-level
# substring searches for "nan"/"inf" right after `:`, `,` or `[` (whitespace, signs dropped) find
# candidates; only then are strings cut out and the exact token looked for.
_NON_FINITE = re.compile(rb"(?i)(?<![\w.])[-+]?(?:nan|inf(?:inity)?)(?!\w)")
_NON_FINITE_HINTS = tuple((sep + token).encode() for sep in ":,[" for token in ("nan", "inf"))


def _may_be_non_finite(data: bytes) -> bool:
    """Whether a NaN or Infinity literal may follow a value separator somewhere in ``data``."""
    compact = data.lower().translate(None, b" \t\r\n+-")
    return any(hint in compact for hint in _NON_FINITE_HINTS)


def _screen(raw: bytes, limits: IngestLimits, non_finite_possible: bool = True) -> str | None:
    """The reason a JSON document is refused before parsing, or None."""
    if _too_deep(raw, limits.max_json_depth):
        return "nesting exceeds the configured limit"
    if (
        non_finite_possible
        and _may_be_non_finite(raw)
        and _NON_FINITE.search(_STRING.sub(b"", raw))
    ):
        return "invalid JSON"
    return None


def _decode_lines(
    data: bytes, limits: IngestLimits
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Split NDJSON into non-blank lines; a line that is refused is rejected on its own."""
    locators: list[str] = []
    texts: list[str] = []
    rejected: list[tuple[str, str]] = []
    non_finite_possible = _may_be_non_finite(data)
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        reason = _screen(raw, limits, non_finite_possible)
        if reason is not None:
            rejected.append((f"line {number}", reason))
            continue
        try:
            texts.append(raw.decode("utf-8"))
            locators.append(f"line {number}")
        except UnicodeDecodeError:
            rejected.append((f"line {number}", "invalid UTF-8"))
    return locators, texts, rejected


def _decode_document(
    raw: bytes, locator: str, limits: IngestLimits
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """One whole JSON document, screened; ``invalid UTF-8`` is raised for the caller to place."""
    text = raw.decode("utf-8")
    reason = _screen(raw, limits)
    if reason is not None:
        return [], [], [(locator, reason)]
    return [locator], [text], []


def check_size(size: int, limits: IngestLimits) -> None:
    """Reject a file over the size limit before its bytes are read."""
    if size > limits.max_file_bytes:
        raise InputRejected("file exceeds the configured size limit")


def frame(data: bytes, name: str, limits: IngestLimits) -> Framed:
    """Cut an object's bytes into JSON documents according to its container and source name."""
    check_size(len(data), limits)
    lower = name.lower()
    if data[:2] == b"\x1f\x8b":
        try:
            data = _gunzip(data, limits)
        except zlib.error as exc:
            raise InputRejected("corrupt gzip stream") from exc
        lower = lower.removesuffix(".gz")
    if data[:4] == b"PK\x03\x04":
        return _frame_zip(data, limits)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise InputRejected("empty file")
    if lower.endswith(_LINE_FORMATS):
        locators, texts, rejected = _decode_lines(data, limits)
    else:
        try:
            locators, texts, rejected = _decode_document(data, "document", limits)
        except UnicodeDecodeError as exc:
            raise InputRejected("invalid UTF-8") from exc
    return Framed(_docs_table(locators, texts), rejected)


# What reading a damaged or unsupported member raises (CRC or size mismatch, bad deflate data,
# an encrypted or unknown compression method).
_ZIP_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


def _frame_zip(data: bytes, limits: IngestLimits) -> Framed:
    """An Apple Health export zip: every ``clinical-records/*.json`` member is one resource."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InputRejected("corrupt zip archive") from exc
    members = sorted(
        (
            info
            for info in archive.infolist()
            if not info.is_dir()
            and "clinical-records/" in info.filename
            and info.filename.lower().endswith(".json")
        ),
        key=lambda info: info.filename,
    )
    if sum(info.file_size for info in members) > limits.max_decompressed_bytes:
        raise InputRejected("decompressed size exceeds the configured limit")
    if any(info.file_size > limits.inflate_bound(info.compress_size) for info in members):
        raise InputRejected("compression ratio exceeds the configured limit")
    locators: list[str] = []
    texts: list[str] = []
    rejected: list[tuple[str, str]] = []
    for number, info in enumerate(members, start=1):
        locator = f"zip member {number}"
        try:
            raw = archive.read(info)
        except _ZIP_MEMBER_ERRORS:
            rejected.append((locator, "corrupt zip member"))
            continue
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            rejected.append((locator, "empty file"))
            continue
        try:
            member = _decode_document(raw, locator, limits)
        except UnicodeDecodeError:
            rejected.append((locator, "invalid UTF-8"))
            continue
        locators += member[0]
        texts += member[1]
        rejected += member[2]
    if not members:
        raise InputRejected("zip archive has no clinical-records/*.json member")
    return Framed(_docs_table(locators, texts), rejected)


def _docs_table(locators: list[str], texts: list[str]) -> pa.Table:
    return pa.table(
        {
            "doc_index": pa.array(range(len(texts)), pa.int64()),
            "locator": pa.array(locators, pa.string()),
            "text": pa.array(texts, pa.string()),
        }
    )


def _sql_list(values: frozenset[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in sorted(values)) + "]"


# One statement: classify documents, unpack bundles one level, classify candidate resources.
# A Bundle whose `entry` is not an array is refused whole (its entries cannot be told apart); a
# Bundle inside a Bundle is refused as an entry, since only one level is unpacked and its own
# entries would otherwise land as one opaque resource. An id must not be empty or hold `/`,
# whitespace or control characters: references are `Type/id`, so such ids cannot be resolved.
_UNPACK_SQL = f"""
WITH parsed AS (
    SELECT doc_index, locator, json_valid(text) AS ok,
           CASE WHEN json_valid(text) THEN json(text) END AS j
    FROM docs
), bundles AS (
    SELECT doc_index, locator, j,
           (j->'entry') IS NOT NULL AND json_type(j->'entry') <> 'ARRAY' AS bad_entries
    FROM parsed
    WHERE ok AND json_type(j) = 'OBJECT' AND (j->>'resourceType') = 'Bundle'
), candidates AS (
    SELECT doc_index, locator, NULL::VARCHAR AS full_url, j AS resource, NULL::VARCHAR AS mode,
           ok, json_type(j) AS jtype, false AS from_entry, false AS bad_entries
    FROM parsed
    WHERE NOT ok OR json_type(j) <> 'OBJECT' OR (j->>'resourceType') IS DISTINCT FROM 'Bundle'
    UNION ALL
    SELECT doc_index, locator, NULL, j, NULL, true, 'OBJECT', false, true
    FROM bundles WHERE bad_entries
    UNION ALL
    SELECT doc_index, locator || ' entry ' || idx, e->>'fullUrl', e->'resource',
           e->'search'->>'mode', true, json_type(e->'resource'), true, false
    FROM (
        SELECT doc_index, locator, unnest(es) AS e, generate_subscripts(es, 1) AS idx
        FROM (SELECT doc_index, locator, json_extract(j, '$.entry[*]') AS es FROM bundles
              WHERE NOT bad_entries)
    )
), classified AS (
    SELECT *, resource->>'resourceType' AS resource_type,
        CASE
            WHEN NOT ok THEN 'invalid JSON'
            WHEN bad_entries THEN 'bundle entry is not an array'
            WHEN from_entry AND (resource IS NULL OR jtype = 'NULL')
                THEN 'bundle entry without resource'
            WHEN jtype <> 'OBJECT' THEN 'not a JSON object'
            WHEN (resource->'resourceType') IS NULL THEN 'missing resourceType'
            WHEN json_type(resource->'resourceType') <> 'VARCHAR'
                THEN 'resourceType is not a string'
            WHEN NOT list_contains({_sql_list(KNOWN_RESOURCE_TYPES)}, resource->>'resourceType')
                THEN 'unknown resourceType'
            WHEN from_entry AND resource->>'resourceType' = 'Bundle' THEN 'nested bundle'
            WHEN (resource->'id') IS NOT NULL AND json_type(resource->'id') <> 'VARCHAR'
                THEN 'id is not a string'
            WHEN (resource->'id') IS NOT NULL
                AND (resource->>'id' = ''
                     OR regexp_matches(resource->>'id', '[/[:space:][:cntrl:]]'))
                THEN 'id is not a valid FHIR id'
        END AS reason
    FROM candidates
)
SELECT doc_index, locator, full_url, resource, resource_type, reason,
       coalesce(resource_type = 'OperationOutcome' AND mode = 'outcome', false) AS is_outcome
FROM classified
"""

_DSTU2_MARKER_SQL = f"""
list_contains({_sql_list(DSTU2_ONLY_RESOURCE_TYPES)}, resource_type)
OR (resource_type = 'Observation' AND json_type(resource->'category') = 'OBJECT')
OR (resource_type = 'Encounter' AND json_type(resource->'class') = 'VARCHAR')
OR (resource_type = 'Immunization' AND (resource->'wasNotGiven') IS NOT NULL)
"""


@dataclass(frozen=True)
class Unpacked:
    """Resources of one object and the positions that were quarantined."""

    resources: pa.Table
    quarantined: list[tuple[str, str | None, str | None, str]]  # locator, type, id, reason
    outcomes: int
    fhir_version: str


def unpack(
    con: duckdb.DuckDBPyConnection,
    framed: Framed,
    raw_sha256: str,
    fhir_version: str | None = None,
) -> Unpacked:
    """Turn framed documents into resource rows; ``fhir_version`` None means detect it.

    Detection looks for DSTU2-only shapes (MedicationOrder, a single-object Observation
    category, a string Encounter.class, Immunization.wasNotGiven); one marker makes the whole
    object DSTU2, since a delivery is written against one FHIR version.
    """
    con.register("docs", framed.docs)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE unpacked AS {_UNPACK_SQL}")
    finally:
        con.unregister("docs")
    bad = con.execute(
        "SELECT locator, resource_type, resource->>'id', reason FROM unpacked "
        "WHERE reason IS NOT NULL ORDER BY doc_index, locator"
    ).fetchall()
    [(outcomes,)] = con.execute(
        "SELECT count(*) FROM unpacked WHERE reason IS NULL AND is_outcome"
    ).fetchall()
    if fhir_version is None:
        [(dstu2,)] = con.execute(
            f"SELECT coalesce(bool_or({_DSTU2_MARKER_SQL}), false) FROM unpacked "
            "WHERE reason IS NULL"
        ).fetchall()
        fhir_version = DSTU2 if dstu2 else R4
    resources = con.sql(
        """
        SELECT ?::VARCHAR AS raw_sha256, locator, full_url, ?::VARCHAR AS fhir_version,
               resource_type,
               coalesce(resource->>'id', 'anon-' || substr(sha256(resource::VARCHAR), 1, 24))
                   AS resource_id,
               (resource->>'id') IS NULL AS id_synthesized,
               resource->'meta'->>'versionId' AS version_id,
               resource->'meta'->>'lastUpdated' AS last_updated,
               resource
        FROM unpacked
        WHERE reason IS NULL AND NOT is_outcome
        ORDER BY doc_index, locator
        """,
        params=[raw_sha256, fhir_version],
    ).to_arrow_table()
    con.execute("DROP TABLE unpacked")
    quarantined: list[tuple[str, str | None, str | None, str]] = [
        (loc, None, None, reason) for loc, reason in framed.rejected
    ]
    quarantined += [(str(loc), rt, rid, str(reason)) for loc, rt, rid, reason in bad]
    return Unpacked(resources, quarantined, int(outcomes), fhir_version)
