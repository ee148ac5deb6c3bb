"""HealthEx push deliveries: files HealthEx writes to our storage, taken into partition inboxes.

HealthEx writes ``{orgId}/{projectId}/{healthexPatientId}/{externalId}/{facilityId}/{id}.json``
(see docs/vendor-apis.md); ``externalId`` is our pseudonym. Taking a delivery stages it into the
partition's inbox and then removes it from the landing area, so a crash in between at worst
stages it twice, which content addressing makes harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthex_pipeline.connections import WAITING, ConnectionStore
from healthex_pipeline.raw_zone import InboxFile, RawPartition
from healthex_pipeline.registry import PseudonymRegistry

CONNECTOR = "healthex"


@dataclass(frozen=True)
class LandedDelivery:
    """One complete file in the landing area and what its path says."""

    path: Path
    patient_id: str
    user_key: str
    facility: str
    delivery_id: str


def scan(landing_root: Path) -> list[LandedDelivery]:
    """Complete deliveries (temporary names start with a dot), oldest path first."""
    if not landing_root.exists():
        return []
    found = []
    for path in sorted(landing_root.glob("*/*/*/*/*/*.json")):
        if path.name.startswith("."):
            continue
        patient_id, user_key, facility = path.parts[-4], path.parts[-3], path.parts[-2]
        found.append(LandedDelivery(path, patient_id, user_key, facility, path.stem))
    return found


@dataclass(frozen=True)
class Taken:
    """Deliveries staged per user key, and how many were left for unknown recipients."""

    by_user: dict[str, list[str]]
    unknown_recipient: int


def take(
    landing_root: Path,
    raw_root: Path,
    registry: PseudonymRegistry,
    connections: ConnectionStore,
) -> Taken:
    """Stage every landed delivery of a registered user into its partition's inbox."""
    by_user: dict[str, list[str]] = {}
    unknown = 0
    for delivery in scan(landing_root):
        if not registry.is_registered(delivery.user_key):
            unknown += 1
            continue
        partition = RawPartition(raw_root, delivery.user_key, CONNECTOR)
        batch = partition.stage(
            [InboxFile(delivery.path, f"{delivery.facility}/{delivery.delivery_id}.json")],
            "healthex-push",
            {"facility": delivery.facility, "delivery": delivery.delivery_id},
        )
        connections.set_vendor_patient(delivery.user_key, CONNECTOR, delivery.patient_id)
        connections.set_status(delivery.user_key, CONNECTOR, delivery.facility, WAITING)
        delivery.path.unlink()
        by_user.setdefault(delivery.user_key, []).append(batch)
    return Taken(by_user, unknown)
