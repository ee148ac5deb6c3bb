"""`healthex connect` and `healthex status`: open a connection, and say where it stands.

Connecting registers the account's pseudonym, adds its Dagster partition and asks the vendor for
the patient's consent link (HealthEx) or connect URL (Fasten), keyed by the pseudonym only.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthex_pipeline.connections import (
    CONNECTION,
    NEEDS_PATIENT_ACTION,
    WAITING,
    ConnectionStore,
    FacilityStatus,
)
from healthex_pipeline.consent.models import ACTIVE
from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.defs.partitions import ensure_users
from healthex_pipeline.defs.resources import fasten_client, healthex_client
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings


@dataclass(frozen=True)
class Connected:
    """The pseudonym and the URL the patient must open to consent."""

    user_key: str
    patient_url: str


def connect(settings: Settings, account_id: str, connector: str) -> Connected:
    """Open (idempotently) a connection of ``connector`` for the account."""
    settings.ensure()
    user_key = PseudonymRegistry(settings.registry_path).user_key(account_id)
    ensure_users(instance_for(settings), [user_key])
    if connector == "healthex":
        client = healthex_client(resolve=True)
        try:
            url = client.create_link(user_key)
        finally:
            client.close()
    elif connector == "fasten":
        url = fasten_client(resolve=True).connect_url(user_key)
    else:
        raise ValueError(f"connector {connector!r} has no network connection")
    ConnectionStore(settings.registry_path).open(user_key, connector, url)
    # Consent (issue 5): connecting grants it, unless a consent is already active.
    with ConsentStore(settings.consent_db_url) as consents:
        if not consents.active(user_key, connector):
            consents.grant(user_key, connector)
    return Connected(user_key, url)


class NotConnectedError(Exception):
    """The account has no HealthEx connection with a known patient yet (PHI-free message)."""


class ConsentInactiveError(NotConnectedError):
    """The account's HealthEx consent is revoked or expired: no vendor call is made (issue 5)."""


def refresh(settings: Settings, account_id: str) -> str:
    """Ask HealthEx for fresh records; returns the connection's new status.

    ``PATIENT_ACTION_NEEDED`` becomes the status ``needs patient action`` (the product asks the
    user to re-authorize through their link); otherwise the delivery will come by push.
    """
    user_key = PseudonymRegistry(settings.registry_path).lookup(account_id)
    store = ConnectionStore(settings.registry_path)
    patient_id = store.vendor_patient(user_key, "healthex") if user_key else None
    if user_key is None or patient_id is None:
        raise NotConnectedError("no HealthEx connection with a known patient for this account")
    # Consent (issue 5): refuse before any vendor call when consent is not active.
    with ConsentStore(settings.consent_db_url) as consents:
        state = consents.state(user_key, "healthex")
    if state != ACTIVE:
        raise ConsentInactiveError(f"HealthEx consent for this account is {state or 'missing'}")
    client = healthex_client(resolve=True)
    try:
        outcome = client.update_data(patient_id)
    finally:
        client.close()
    new_status = NEEDS_PATIENT_ACTION if outcome == "patient_action_needed" else WAITING
    store.set_status(user_key, "healthex", CONNECTION, new_status)
    return new_status


def status(settings: Settings, account_id: str) -> list[FacilityStatus] | None:
    """Every connection's and facility's status, or None for an unknown account."""
    user_key = PseudonymRegistry(settings.registry_path).lookup(account_id)
    if user_key is None:
        return None
    return ConnectionStore(settings.registry_path).statuses(user_key)
