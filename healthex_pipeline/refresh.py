"""Scheduled refresh: ask the vendors for fresh records of every connection whose consent holds.

Consent gates every call: a revoked or expired consent makes none, and only counts in the report.
The 30-day "consent expires soon" notice is returned in the report (pseudonyms only) rather than
written as a connection status, so it never hides a status the user must act on (e.g. "needs
patient action"); the caller (the schedule's op) decides how to notify.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from healthex_pipeline.connections import (
    CONNECTION,
    NEEDS_PATIENT_ACTION,
    WAITING,
    ConnectionStore,
)
from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.consent.models import EXPIRED, REVOKED
from healthex_pipeline.consent.store import ConsentState, ConsentStore
from healthex_pipeline.defs.resources import fasten_client, healthex_client
from healthex_pipeline.settings import Settings

NOTICE_PERIOD = timedelta(days=30)


@dataclass
class RefreshReport:
    """What a refresh did, in counts and timings; ``expiring_soon`` holds pseudonyms only."""

    connections: int = 0
    """Active connections considered."""
    refreshed: int = 0
    """Connections with at least one successful vendor call."""
    calls: int = 0
    call_seconds: float = 0.0
    seconds: float = 0.0
    not_refreshed: Counter[str] = field(default_factory=Counter)
    """Connections (for a failed export request, Fasten facilities) not refreshed, by PHI-free
    reason: consent, patient not known yet, patient action needed, vendor failure."""
    expiring_soon: list[ConsentState] = field(default_factory=list)
    """Every consent in its last 30 days, each day until renewed; the notifier deduplicates."""
    action_needed: list[str] = field(default_factory=list)
    """Pseudonyms whose HealthEx refresh answered PATIENT_ACTION_NEEDED (re-authorize)."""

    @property
    def overhead_per_connection_seconds(self) -> float:
        """Time spent outside vendor calls (consent and status stores), per connection."""
        return (self.seconds - self.call_seconds) / self.connections if self.connections else 0.0


class _CallTimer:
    """Counts one vendor call and adds its duration to the report."""

    def __init__(self, report: RefreshReport) -> None:
        self.report = report
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report.calls += 1
        self.report.call_seconds += time.perf_counter() - self.started


class _Refresher:
    """Holds the stores and lazily created clients of one refresh pass."""

    def __init__(self, connections: ConnectionStore, report: RefreshReport) -> None:
        self.connections = connections
        self.report = report
        self._healthex: HealthExClient | None = None
        self._fasten: FastenClient | None = None

    def close(self) -> None:
        for client in (self._healthex, self._fasten):
            if client is not None:
                client.close()

    def refresh(self, user_key: str, connector: str) -> None:
        """Refresh one connection; vendor failures are counted, never raised."""
        try:
            if connector == "healthex":
                ok = self._healthex_refresh(user_key)
            elif connector == "fasten":
                ok = self._fasten_refresh(user_key)
            else:
                self.report.not_refreshed["no network connection"] += 1
                return
        except VendorError as exc:
            self.report.not_refreshed[f"{connector}: {exc.operation} failed"] += 1
            return
        self.report.refreshed += ok

    def _healthex_refresh(self, user_key: str) -> bool:
        patient_id = self.connections.vendor_patient(user_key, "healthex")
        if patient_id is None:
            self.report.not_refreshed["healthex patient not known yet"] += 1
            return False
        if self._healthex is None:
            self._healthex = healthex_client(resolve=True)
        with _CallTimer(self.report):
            outcome = self._healthex.update_data(patient_id)
        action_needed = outcome == "patient_action_needed"
        status = NEEDS_PATIENT_ACTION if action_needed else WAITING
        self.connections.set_status(user_key, "healthex", CONNECTION, status)
        if action_needed:
            self.report.not_refreshed["healthex needs patient action"] += 1
            self.report.action_needed.append(user_key)
        return not action_needed

    def _fasten_refresh(self, user_key: str) -> bool:
        facilities = [
            s.facility
            for s in self.connections.statuses(user_key)
            if s.connector == "fasten" and s.facility != CONNECTION
        ]
        if not facilities:
            self.report.not_refreshed["fasten facilities not known yet"] += 1
            return False
        if self._fasten is None:
            self._fasten = fasten_client(resolve=True)
        requested = False
        for org_connection_id in facilities:  # one failing facility does not hold up the others
            try:
                with _CallTimer(self.report):
                    self._fasten.request_export(org_connection_id)
                requested = True
            except VendorError as exc:
                self.report.not_refreshed[f"fasten facility: {exc.operation} failed"] += 1
        return requested


def refresh_due(settings: Settings, now: datetime | None = None, batch: int = 100) -> RefreshReport:
    """Refresh every connection with active consent at ``now``, reading ``batch`` at a time.

    Expired consents are recorded first, so the report's consent counts are current.
    """
    started = time.perf_counter()
    at = now if now is not None else datetime.now(UTC)
    report = RefreshReport()
    refresher = _Refresher(ConnectionStore(settings.registry_path), report)
    with ConsentStore(settings.consent_db_url) as consents:
        consents.expire(at)
        counts = consents.counts()
        for state, reason in ((EXPIRED, "consent expired"), (REVOKED, "consent revoked")):
            if counts.get(state):
                report.not_refreshed[reason] = counts[state]
        report.expiring_soon = consents.expiring_between(at, at + NOTICE_PERIOD)
        after: tuple[str, str] | None = None
        try:
            while page := consents.active_connections(at, after=after, limit=batch):
                for user_key, connector in page:
                    report.connections += 1
                    refresher.refresh(user_key, connector)
                after = page[-1]
        finally:
            refresher.close()
    report.seconds = time.perf_counter() - started
    return report
