"""The consent registry: grants last a year, revocation and expiry stop refreshes, history stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from healthex_pipeline.consent.models import Base
from healthex_pipeline.consent.store import ConsentStore, migrate

T0 = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
YEAR = timedelta(days=365)


@pytest.fixture
def store(tmp_path: Path) -> ConsentStore:
    return ConsentStore(f"sqlite:///{tmp_path}/consent.sqlite")


def test_a_grant_is_active_for_exactly_one_year(store: ConsentStore) -> None:
    granted = store.grant("u_a", "healthex", now=T0)

    assert granted.expires_at == T0 + YEAR
    assert store.active("u_a", "healthex", now=T0 + YEAR - timedelta(seconds=1))
    assert not store.active("u_a", "healthex", now=T0 + YEAR)
    assert store.state("u_a", "healthex", now=T0 + YEAR) == "expired"
    assert not store.active("u_a", "fasten", now=T0)
    assert store.state("u_a", "fasten", now=T0) is None


def test_renewing_restarts_the_year(store: ConsentStore) -> None:
    store.grant("u_a", "healthex", now=T0)
    store.grant("u_a", "healthex", now=T0 + timedelta(days=300))

    assert store.active("u_a", "healthex", now=T0 + timedelta(days=600))


def test_revoke_stops_an_active_consent_once(store: ConsentStore) -> None:
    store.grant("u_a", "fasten", now=T0)

    assert store.revoke("u_a", "fasten", now=T0 + timedelta(days=1))
    assert not store.revoke("u_a", "fasten", now=T0 + timedelta(days=2))
    assert not store.revoke("u_unknown", "fasten", now=T0)
    assert not store.active("u_a", "fasten", now=T0 + timedelta(days=1))
    [line] = store.status("u_a")
    assert (line.connector, line.state, line.granted_at) == ("fasten", "revoked", T0)


def test_expire_records_state_and_events(store: ConsentStore) -> None:
    store.grant("u_a", "healthex", now=T0)
    store.grant("u_b", "healthex", now=T0 + timedelta(days=10))

    assert store.expire(T0 + YEAR + timedelta(days=1)) == 1
    assert store.expire(T0 + YEAR + timedelta(days=1)) == 0
    assert store.counts() == {"expired": 1, "active": 1}
    assert [e.event for e in store.events("u_a")] == ["granted", "expired"]


def test_the_event_log_is_append_only_and_ordered(store: ConsentStore) -> None:
    store.grant("u_a", "healthex", now=T0)
    store.grant("u_b", "fasten", now=T0 + timedelta(hours=1))
    before = store.events()
    store.revoke("u_a", "healthex", now=T0 + timedelta(days=2))
    store.grant("u_a", "healthex", now=T0 + timedelta(days=3))
    store.expire(T0 + timedelta(days=3) + YEAR)
    store.delete("u_a", now=T0 + timedelta(days=3) + YEAR)
    after = store.events()

    assert after[: len(before)] == before
    assert [e.id for e in after] == sorted(e.id for e in after)
    assert [e.at for e in after] == sorted(e.at for e in after)
    assert [(e.user_key, e.event) for e in after] == [
        ("u_a", "granted"),
        ("u_b", "granted"),
        ("u_a", "revoked"),
        ("u_a", "granted"),
        ("u_a", "expired"),
        ("u_b", "expired"),
        ("u_a", "deleted"),
    ]
    assert [line.state for line in store.status("u_a")] == ["deleted"]


def test_active_connections_exclude_revoked_and_expired_and_page(store: ConsentStore) -> None:
    store.grant("u_a", "healthex", now=T0)
    store.grant("u_a", "fasten", now=T0)
    store.grant("u_b", "healthex", now=T0 - YEAR)  # expired by time, not yet recorded
    store.grant("u_c", "fasten", now=T0)
    store.revoke("u_c", "fasten", now=T0)
    store.grant("u_d", "healthex", now=T0)

    expected = [("u_a", "fasten"), ("u_a", "healthex"), ("u_d", "healthex")]
    assert store.active_connections(now=T0) == expected
    first = store.active_connections(now=T0, limit=2)
    rest = store.active_connections(now=T0, after=first[-1], limit=2)
    assert first + rest == expected


def test_expiring_between_finds_whom_to_notify(store: ConsentStore) -> None:
    store.grant("u_soon", "healthex", now=T0 - YEAR + timedelta(days=20))
    store.grant("u_later", "healthex", now=T0 - YEAR + timedelta(days=40))
    store.grant("u_revoked", "fasten", now=T0 - YEAR + timedelta(days=20))
    store.revoke("u_revoked", "fasten", now=T0)

    soon = store.expiring_between(T0, T0 + timedelta(days=30))

    assert [(c.user_key, c.state) for c in soon] == [("u_soon", "active")]


def test_naive_times_are_refused(store: ConsentStore) -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        store.grant("u_a", "healthex", now=datetime(2026, 1, 1))


def test_migrations_build_the_models_schema_from_empty_and_are_idempotent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/empty.sqlite")
    migrate(engine)
    migrate(engine)
    ConsentStore(f"sqlite:///{tmp_path}/empty.sqlite").close()

    tables = set(inspect(engine).get_table_names())
    with engine.connect() as con:
        version = con.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
    assert tables == {"alembic_version", "consents", "consent_events"}
    assert version == "0001"
    assert diff == []
