"""What one sandbox process remembers: who enrolled or connected, and what was delivered."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import cast

from starlette.requests import Request

from healthex_pipeline.sandbox.config import SandboxConfig
from healthex_pipeline.sandbox.faults import FaultConfig, FaultState
from healthex_pipeline.sandbox.population import Facility, Pools, VendorName, VendorPatient


@dataclass
class Delivered:
    """One delivery made: a HealthEx push file or a Fasten export."""

    facility_ids: list[str]
    delivery_id: str
    at: float
    ok: bool = True


@dataclass
class Assignment:
    """An ``externalId`` and, once the patient consented or connected, their synthetic patient.

    ``vendor_id`` is the HealthEx link token before consent; the ``org_connection_id`` for Fasten.
    """

    connector: VendorName
    external_id: str
    vendor_id: str
    patient: VendorPatient | None = None
    consented_at: float | None = None
    deliveries: list[Delivered] = field(default_factory=list)

    def require_patient(self) -> VendorPatient:
        """The assigned patient; only call after consent."""
        if self.patient is None:
            raise LookupError(f"{self.external_id} has no patient yet")
        return self.patient

    def due_at(self, facility: Facility, scale: float) -> float | None:
        """Wall-clock time the facility's first delivery is due (None before consent)."""
        if self.consented_at is None:
            return None
        return self.consented_at + facility.delay_seconds * scale

    def released(self, scale: float, now: float) -> list[Facility]:
        """The facilities whose delay has elapsed."""
        if self.patient is None or self.consented_at is None:
            return []
        start = self.consented_at
        return [f for f in self.patient.facilities if start + f.delay_seconds * scale <= now]


@dataclass
class Export:
    """A Fasten export file behind a signed download link."""

    export_id: str
    data: bytes
    file_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class PoolExhaustedError(Exception):
    """Every synthetic patient of the connector's pool was already handed out."""


class SandboxState:
    """The process-wide registries the routes and the delivery scheduler share."""

    def __init__(self, config: SandboxConfig, pools: Pools) -> None:
        self.config = config
        self.pools = pools
        self.faults = FaultState(FaultConfig.from_json(config.faults))
        self.secret = secrets.token_bytes(32)
        self.assignments: dict[VendorName, dict[str, Assignment]] = {"healthex": {}, "fasten": {}}
        self.by_vendor_id: dict[str, Assignment] = {}
        self.by_patient_id: dict[str, Assignment] = {}
        self.exports: dict[str, Export] = {}
        self.files: dict[str, Export] = {}

    def enroll(self, connector: VendorName, external_id: str, vendor_id: str) -> Assignment:
        """The assignment of ``external_id``, created on first sight (idempotent)."""
        known = self.assignments[connector].get(external_id)
        if known is not None:
            return known
        assignment = Assignment(connector, external_id, vendor_id)
        self.assignments[connector][external_id] = assignment
        self.by_vendor_id[vendor_id] = assignment
        return assignment

    def consent(self, assignment: Assignment) -> bool:
        """Give the assignment the next patient of its pool; False when it already had one."""
        if assignment.patient is not None:
            return False
        pool = self.pools.of(assignment.connector)
        taken = sum(a.patient is not None for a in self.assignments[assignment.connector].values())
        if taken >= len(pool):
            raise PoolExhaustedError(assignment.connector)
        assignment.patient = pool[taken]
        assignment.consented_at = time.time()
        self.by_patient_id[assignment.patient.patient_id] = assignment
        return True

    def add_export(self, export: Export) -> None:
        """Make an export downloadable."""
        self.exports[export.export_id] = export
        self.files[export.file_token] = export


def state_of(request: Request) -> SandboxState:
    """The state the app factory put on the app."""
    return cast(SandboxState, request.app.state.sandbox)
