"""Read a synthetic delivery's resources back and count what the curated tables should keep.

Splitting a delivery across facilities loses the generator's per-delivery ``expected``, so the
counts are recomputed from the resources with the curated tables' rules.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from healthex_pipeline.synthetic import SyntheticDelivery

Resource = dict[str, Any]
TABLES: tuple[str, ...] = ("lab_results", "medications", "immunizations", "encounters")
MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationStatement", "MedicationOrder"})
ENTERED_IN_ERROR = "entered-in-error"


def delivery_resources(delivery: SyntheticDelivery) -> tuple[list[Resource], str | None]:
    """The delivery's resources in file order, and the warning its searchset carried if any."""
    resources: list[Resource] = []
    warning: str | None = None
    for name, data in sorted(delivery.files.items()):
        if name.endswith(".ndjson.gz"):
            data = gzip.decompress(data)
        if ".ndjson" in name:
            resources.extend(json.loads(line) for line in data.splitlines() if line.strip())
            continue
        for entry in json.loads(data).get("entry", []):
            resource = entry["resource"]
            if entry.get("search", {}).get("mode") == "outcome":
                warning = resource["issue"][0].get("diagnostics")
            else:
                resources.append(resource)
    return resources, warning


def table_of(resource: Resource) -> str | None:
    """The curated table an R4 resource yields a row in, None when it yields none."""
    kind = resource["resourceType"]
    if resource.get("status") == ENTERED_IN_ERROR:
        return None
    if kind == "Observation":
        codes = {c.get("code") for cat in resource.get("category", []) for c in cat["coding"]}
        return "lab_results" if "laboratory" in codes else None
    if kind in MEDICATION_TYPES:
        return "medications"
    if kind == "Immunization":
        return "immunizations"
    if kind == "Encounter":
        return "encounters"
    return None


def curated_counts(resources: list[Resource]) -> dict[str, int]:
    """Per curated table, how many of the resources it must keep."""
    counts: dict[str, int] = dict.fromkeys(TABLES, 0)
    for resource in resources:
        table = table_of(resource)
        if table is not None:
            counts[table] += 1
    return counts


def encounter_id(resource: Resource) -> str | None:
    """The id of the encounter a resource belongs to (itself for an Encounter), else None."""
    if resource["resourceType"] == "Encounter":
        return resource["id"]
    ref = (resource.get("encounter") or resource.get("context") or {}).get("reference")
    if not ref:
        return None
    return ref.removeprefix("urn:uuid:").rsplit("/", 1)[-1]
