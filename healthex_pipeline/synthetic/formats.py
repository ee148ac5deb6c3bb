"""Serialize a delivery's resources the way each source sends them, byte for byte reproducibly.

Searchset and urn:uuid bundles and bulk NDJSON are minified like server output; Apple Health
files are pretty-printed with Apple's ``" : "`` separator. Gzip and zip members carry fixed
timestamps so the same resources always give the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import orjson

from healthex_pipeline.synthetic.ids import new_uuid
from healthex_pipeline.synthetic.source import Resource

APPLE_EXPORT_ROOT = "apple_health_export"
"""The folder an Apple Health export zip unpacks to; its records are under clinical-records/."""


def _compact(document: Resource) -> bytes:
    return orjson.dumps(document)


def searchset(
    resources: Sequence[Resource],
    base_url: str,
    fetched: str,
    rng: random.Random,
    warning: str | None,
) -> bytes:
    """A ``$everything`` searchset; a warning becomes an OperationOutcome with mode outcome."""
    entries: list[Resource] = [
        {
            "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    if warning is not None:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "warning",
                    "code": "incomplete",
                    "details": {"text": warning},
                    "diagnostics": warning,
                }
            ],
        }
        entries.append(
            {
                "fullUrl": f"urn:uuid:{new_uuid(rng)}",
                "resource": outcome,
                "search": {"mode": "outcome"},
            }
        )
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return _compact(
        {
            "resourceType": "Bundle",
            "id": new_uuid(rng),
            "meta": {"lastUpdated": fetched},
            "type": "searchset",
            "total": len(resources),
            "link": [{"relation": "self", "url": f"{base_url}/Person/{patient_id}/$everything"}],
            "entry": entries,
        }
    )


def urn_bundle(
    resources: Sequence[Resource],
    bundle_type: Literal["collection", "transaction"],
    fetched: str,
    rng: random.Random,
) -> bytes:
    """A Synthea-style bundle: ``urn:uuid`` fullUrls, and POST requests when a transaction."""
    entries: list[Resource] = []
    for r in resources:
        entry: Resource = {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
        if bundle_type == "transaction":
            entry["request"] = {"method": "POST", "url": r["resourceType"]}
        entries.append(entry)
    bundle: Resource = {"resourceType": "Bundle", "id": new_uuid(rng), "type": bundle_type}
    if bundle_type == "collection":
        bundle["timestamp"] = fetched
    bundle["entry"] = entries
    return _compact(bundle)


def ndjson(resources: Sequence[Resource], compress: bool) -> dict[str, bytes]:
    """Bulk-export NDJSON: one file per resource type, one minified resource a line."""
    by_type: dict[str, list[bytes]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(_compact(r))
    files: dict[str, bytes] = {}
    for resource_type in sorted(by_type):
        data = b"\n".join(by_type[resource_type]) + b"\n"
        if compress:
            files[f"{resource_type}.ndjson.gz"] = gzip.compress(data, compresslevel=9, mtime=0)
        else:
            files[f"{resource_type}.ndjson"] = data
    return files


def apple_records(
    resources: Sequence[Resource], rng: random.Random, without_id_share: float
) -> dict[str, bytes]:
    """Apple's ``clinical-records/``: one pretty-printed resource a file, some with no id."""
    files: dict[str, bytes] = {}
    for r in resources:
        record = r
        if rng.random() < without_id_share:
            record = {k: v for k, v in r.items() if k != "id"}
        name = f"clinical-records/{r['resourceType']}-{new_uuid(rng).upper()}.json"
        text = json.dumps(record, indent=2, separators=(",", " : "), ensure_ascii=False)
        files[name] = text.encode()
    return files


def _export_xml(exported: datetime, birth_date: str) -> bytes:
    """The ``export.xml`` every Apple export carries; the pipeline reads only clinical-records."""
    stamp = exported.strftime("%Y-%m-%d %H:%M:%S %z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<HealthData locale="en_US">\n'
        f' <ExportDate value="{stamp}"/>\n'
        f' <Me HKCharacteristicTypeIdentifierDateOfBirth="{birth_date}"/>\n'
        "</HealthData>\n"
    ).encode()


def apple_zip(records: dict[str, bytes], exported: datetime, birth_date: str) -> bytes:
    """An ``export.zip`` as the Health app writes it, with fixed member times and modes.

    ``exported`` is the local, offset-aware export time; members carry its wall-clock time.
    """
    members = {f"{APPLE_EXPORT_ROOT}/{name}": data for name, data in records.items()}
    members[f"{APPLE_EXPORT_ROOT}/export.xml"] = _export_xml(exported, birth_date)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=exported.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, members[name])
    return buffer.getvalue()
