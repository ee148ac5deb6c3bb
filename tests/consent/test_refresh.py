"""Consent gates the scheduled refresh: against the real sandbox, only active consents call out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from healthex_pipeline.connect import ConsentInactiveError, connect, refresh
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.refresh import refresh_due
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.testing import running_sandbox, vendor_environment
from healthex_pipeline.settings import Settings

# Every facility delivers at once, so "no delivery after a refresh" is observable quickly.
DELAYS = DelayPlan(fast_min_seconds=0.0, fast_max_seconds=0.0, slow_seconds=0.0, slow_share=0.0)


@pytest.fixture
def sandbox(settings: Settings) -> Iterator[str]:
    config = SandboxConfig(n_users=8, seed=7, delays=DELAYS, landing_dir=str(settings.landing_root))
    with ExitStack() as stack:
        base_url = stack.enter_context(running_sandbox(config))
        stack.enter_context(vendor_environment(config, base_url))
        yield base_url


def _listing(base_url: str, connector: str, user_key: str) -> dict[str, Any]:
    entries = httpx.get(f"{base_url}/sandbox/patients").json()[connector]
    [entry] = [e for e in entries if e["external_id"] == user_key]
    return entry


def _deliveries(base_url: str, connector: str, user_key: str) -> int:
    return len(_listing(base_url, connector, user_key)["deliveries"])


def _wait(condition: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the sandbox did not deliver in time")
        time.sleep(0.05)


def _connected(settings: Settings, base_url: str, account: str, connector: str) -> str:
    """Connect and consent at the vendor; record what the sensors would have learned."""
    connected = connect(settings, account, connector)
    httpx.get(connected.patient_url, timeout=30).raise_for_status()
    entry = _listing(base_url, connector, connected.user_key)
    facilities = entry["patient"]["facilities"]
    _wait(lambda: _deliveries(base_url, connector, connected.user_key) == len(facilities))
    store = ConnectionStore(settings.registry_path)
    if connector == "healthex":
        store.set_vendor_patient(connected.user_key, connector, entry["patient"]["patient_id"])
    else:
        for facility in facilities:
            org_connection_id = f"{entry['vendor_id']}.{facility['facility_id']}"
            store.set_status(connected.user_key, connector, org_connection_id, "ready")
    return connected.user_key


def test_only_connections_with_active_consent_are_refreshed(
    settings: Settings, sandbox: str
) -> None:
    active = _connected(settings, sandbox, "acct-active", "healthex")
    fasten = _connected(settings, sandbox, "acct-fasten", "fasten")
    expired = _connected(settings, sandbox, "acct-expired", "healthex")
    revoked = _connected(settings, sandbox, "acct-revoked", "healthex")
    now = datetime.now(UTC)
    with ConsentStore(settings.consent_db_url) as consents:
        consents.grant(active, "healthex", now=now - timedelta(days=350))  # expires in 15 days
        consents.grant(expired, "healthex", now=now - timedelta(days=366))
        consents.revoke(revoked, "healthex", now=now)
    before = {
        key: _deliveries(sandbox, connector, key)
        for key, connector in ((active, "healthex"), (fasten, "fasten"), (expired, "healthex"))
    } | {revoked: _deliveries(sandbox, "healthex", revoked)}

    report = refresh_due(settings, now=now, batch=1)

    fasten_facilities = before[fasten]
    _wait(lambda: _deliveries(sandbox, "healthex", active) == 2 * before[active])
    _wait(lambda: _deliveries(sandbox, "fasten", fasten) == 2 * before[fasten])
    assert _deliveries(sandbox, "healthex", expired) == before[expired]
    assert _deliveries(sandbox, "healthex", revoked) == before[revoked]
    assert (report.connections, report.refreshed) == (2, 2)
    assert report.calls == 1 + fasten_facilities
    assert report.not_refreshed == {"consent expired": 1, "consent revoked": 1}
    assert [(c.user_key, c.connector) for c in report.expiring_soon] == [(active, "healthex")]
    assert 0 < report.call_seconds <= report.seconds
    assert report.overhead_per_connection_seconds >= 0


def test_manual_refresh_refuses_without_consent_and_marks_patient_action(
    settings: Settings, sandbox: str
) -> None:
    revoked = _connected(settings, sandbox, "acct-revoked", "healthex")
    needs_action = _connected(settings, sandbox, "acct-reauth", "healthex")
    with ConsentStore(settings.consent_db_url) as consents:
        consents.revoke(revoked, "healthex")
    httpx.post(f"{sandbox}/sandbox/faults", json={"patient_action_needed": [needs_action]})
    delivered = _deliveries(sandbox, "healthex", revoked)

    with pytest.raises(ConsentInactiveError) as refused:
        refresh(settings, "acct-revoked")
    report = refresh_due(settings)

    assert str(refused.value) == "HealthEx consent for this account is revoked"
    assert _deliveries(sandbox, "healthex", revoked) == delivered
    assert report.not_refreshed == {"consent revoked": 1, "healthex needs patient action": 1}
    statuses = ConnectionStore(settings.registry_path).statuses(needs_action)
    assert ("", "needs patient action") in {(s.facility, s.status) for s in statuses}
