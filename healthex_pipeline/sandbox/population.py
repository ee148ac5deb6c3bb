"""The synthetic population as the vendors see it: per connector, a pool of patients to hand out.

The k-th link (HealthEx) or connect (Fasten) call gets the k-th patient of that connector's pool.
Each patient's record is split across 1-3 facilities by encounter, so every resource that feeds a
curated table sits in exactly one facility; Patient, Organization and Medication resources (no
encounter) are in every facility. DSTU2 deliveries are skipped: Fasten exports here are R4 NDJSON.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Literal

from healthex_pipeline.sandbox.config import DelayPlan
from healthex_pipeline.sandbox.records import (
    TABLES,
    Resource,
    curated_counts,
    delivery_resources,
    encounter_id,
)
from healthex_pipeline.synthetic import SyntheticDelivery, generate_population

VendorName = Literal["healthex", "fasten"]
R4 = "4.0.1"


@dataclass(frozen=True)
class Facility:
    """One facility's share of a patient's record and when it delivers after consent."""

    facility_id: str
    resources: tuple[Resource, ...]
    expected: dict[str, int]
    delay_seconds: float
    """Unscaled: multiply by the config's ``time_scale``."""
    slow: bool


@dataclass(frozen=True)
class VendorPatient:
    """A synthetic user as one vendor holds them."""

    connector: VendorName
    pool_index: int
    account_id: str
    patient_id: str
    """The vendor's id: HealthEx's ``healthexPatientId``; for Fasten, an internal id."""
    facilities: tuple[Facility, ...]
    warning: str | None
    """Text of the OperationOutcome HealthEx adds to the first ``$everything`` page, if any."""

    @property
    def expected(self) -> dict[str, int]:
        """Curated counts over all facilities."""
        return sum_counts(self.facilities)


@dataclass(frozen=True)
class Pools:
    """Both vendors' patients, in hand-out order."""

    healthex: tuple[VendorPatient, ...]
    fasten: tuple[VendorPatient, ...]

    def of(self, connector: VendorName) -> tuple[VendorPatient, ...]:
        """The pool of one connector."""
        return self.healthex if connector == "healthex" else self.fasten


def sum_counts(facilities: tuple[Facility, ...] | list[Facility]) -> dict[str, int]:
    """Curated counts summed over facilities (table resources are never in two facilities)."""
    return {table: sum(f.expected[table] for f in facilities) for table in TABLES}


def build_pools(n_users: int, seed: int, delays: DelayPlan) -> Pools:
    """Generate the population and deal its HealthEx and Fasten R4 deliveries into pools."""
    users = generate_population(n_users, seed)
    pools: dict[VendorName, list[VendorPatient]] = {"healthex": [], "fasten": []}
    for user in users:
        for delivery in user.deliveries:
            connector = delivery.connector
            if connector not in ("healthex", "fasten") or delivery.fhir_version != R4:
                continue
            pool = pools[connector]
            rng = random.Random(f"{seed}/{connector}/{len(pool)}")
            pool.append(_patient(rng, connector, len(pool), user.account_id, delivery, delays))
    return Pools(healthex=tuple(pools["healthex"]), fasten=tuple(pools["fasten"]))


def _patient(
    rng: random.Random,
    connector: VendorName,
    index: int,
    account_id: str,
    delivery: SyntheticDelivery,
    delays: DelayPlan,
) -> VendorPatient:
    resources, warning = delivery_resources(delivery)
    patient_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return VendorPatient(
        connector=connector,
        pool_index=index,
        account_id=account_id,
        patient_id=patient_id,
        facilities=_split(rng, resources, delays),
        warning=warning,
    )


def _split(
    rng: random.Random, resources: list[Resource], delays: DelayPlan
) -> tuple[Facility, ...]:
    """Deal encounters (and what was recorded in them) to 1-3 facilities."""
    encounters = [r["id"] for r in resources if r["resourceType"] == "Encounter"]
    n = max(1, min(rng.choice((1, 2, 2, 3)), len(encounters)))
    owner = {enc: i if i < n else rng.randrange(n) for i, enc in enumerate(encounters)}
    shares: list[list[Resource]] = [[] for _ in range(n)]
    for resource in resources:
        enc = encounter_id(resource)
        if enc is None or enc not in owner:
            for share in shares:
                share.append(resource)
        else:
            shares[owner[enc]].append(resource)
    facilities: list[Facility] = []
    for share in shares:
        fast_delay = rng.uniform(delays.fast_min_seconds, delays.fast_max_seconds)
        slow = rng.random() < delays.slow_share
        facilities.append(
            Facility(
                facility_id=f"fac-{rng.getrandbits(48):012x}",
                resources=tuple(share),
                expected=curated_counts(share),
                delay_seconds=delays.slow_seconds if slow else fast_delay,
                slow=slow,
            )
        )
    return tuple(facilities)


def distinct_resources(facilities: list[Facility] | tuple[Facility, ...]) -> list[Resource]:
    """The facilities' resources in order, each (type, id) once (shared ones repeat otherwise)."""
    seen: set[tuple[str, str]] = set()
    out: list[Resource] = []
    for facility in facilities:
        for resource in facility.resources:
            key = (resource["resourceType"], resource["id"])
            if key not in seen:
                seen.add(key)
                out.append(resource)
    return out
