"""HealthEx push deliveries: files HealthEx writes to our storage, taken into partition inboxes.

HealthEx writes ``{orgId}/{projectId}/{healthexPatientId}/{externalId}/{facilityId}/{id}.json``
(see docs/vendor-apis.md) into a local folder or an S3 prefix (see ``landing_store``);
``externalId`` is our pseudonym. Taking a delivery stages it into the
partition's inbox and then removes it from the landing area, so a crash in between at worst
stages it twice, which content addressing makes harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthex_pipeline.connections import WAITING, ConnectionStore
from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings

CONNECTOR = "healthex"


@dataclass(frozen=True)
class LandedDelivery:
    """One complete file in the landing area and what its key says."""

    key: str
    patient_id: str
    user_key: str
    facility: str
    delivery_id: str


def scan(landing: LandingStore) -> list[LandedDelivery]:
    """Complete deliveries at the documented depth, in key order."""
    found = []
    for key in landing.list_keys():
        parts = key.split("/")
        if len(parts) != 6 or not parts[-1].endswith(".json"):
            continue
        patient_id, user_key, facility, name = parts[2:]
        found.append(
            LandedDelivery(key, patient_id, user_key, facility, name.removesuffix(".json"))
        )
    return found


@dataclass(frozen=True)
class Taken:
    """Deliveries staged per user key, and how many were left for unknown recipients."""

    by_user: dict[str, list[str]]
    unknown_recipient: int


def take(
    landing: LandingStore,
    settings: Settings,
    registry: PseudonymRegistry,
    connections: ConnectionStore,
) -> Taken:
    """Stage every landed delivery of a registered user into its partition's inbox."""
    by_user: dict[str, list[str]] = {}
    unknown = 0
    for delivery in scan(landing):
        if not registry.is_registered(delivery.user_key):
            unknown += 1
            continue
        partition = RawPartition.at(settings, delivery.user_key, CONNECTOR)
        batch = partition.stage_stream(
            [(f"{delivery.facility}/{delivery.delivery_id}.json", landing.chunks(delivery.key))],
            "healthex-push",
            {"facility": delivery.facility, "delivery": delivery.delivery_id},
        )
        connections.set_vendor_patient(delivery.user_key, CONNECTOR, delivery.patient_id)
        connections.set_status(delivery.user_key, CONNECTOR, delivery.facility, WAITING)
        landing.delete(delivery.key)
        by_user.setdefault(delivery.user_key, []).append(batch)
    return Taken(by_user, unknown)
