"""Serialize a facility's resources as each vendor sends them: Bundles and NDJSON."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from healthex_pipeline.sandbox.records import Resource


def now_iso() -> str:
    """The current instant as FHIR writes it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def full_url(fhir_base: str, resource: Resource) -> str:
    """The absolute URL of a resource on the vendor's FHIR server."""
    return f"{fhir_base}/{resource['resourceType']}/{resource['id']}"


def collection(bundle_id: str, resources: Sequence[Resource], fhir_base: str) -> bytes:
    """A HealthEx push: one facility's delivery as a FHIR ``collection`` Bundle."""
    entries = [{"fullUrl": full_url(fhir_base, r), "resource": r} for r in resources]
    bundle = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "collection",
        "timestamp": now_iso(),
        "entry": entries,
    }
    return orjson.dumps(bundle)


def outcome(warning: str) -> Resource:
    """The OperationOutcome HealthEx adds when some records could not be retrieved."""
    issue = {"severity": "warning", "code": "incomplete", "diagnostics": warning}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def searchset_page(
    bundle_id: str,
    page: Sequence[Resource],
    total: int,
    links: dict[str, str],
    fhir_base: str,
    warning: str | None,
) -> bytes:
    """One ``$everything`` page; a warning becomes an entry with ``search.mode = outcome``."""
    entries: list[Resource] = [
        {"fullUrl": full_url(fhir_base, r), "resource": r, "search": {"mode": "match"}}
        for r in page
    ]
    if warning is not None:
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": outcome(warning),
                "search": {"mode": "outcome"},
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": now_iso()},
        "type": "searchset",
        "total": total,
        "link": [{"relation": rel, "url": url} for rel, url in links.items()],
        "entry": entries,
    }
    return orjson.dumps(bundle)


BAD_LINE = b'{"resourceType": "Observation", "id": "broken", "status": "final", "code": {'
"""An NDJSON line cut mid-object, as a failed export writer leaves it."""


def ndjson(resources: Sequence[Resource], bad_line: bool) -> bytes:
    """A Fasten export: one resource a line; ``bad_line`` slips one invalid line in the middle."""
    lines = [orjson.dumps(r) for r in resources]
    if bad_line:
        lines.insert(len(lines) // 2, BAD_LINE)
    return b"\n".join(lines) + b"\n"
