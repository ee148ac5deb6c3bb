"""The consent registry's API: grant, revoke, expire, and which connections may be refreshed.

A consent lasts a year from its grant. ``active`` decides by time, so a consent is no longer
active the moment it expires even before ``expire`` records it; ``expire`` makes the state column
and the event log catch up. Only pseudonyms (``u_...``), connector names and times are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from healthex_pipeline.consent.models import (
    ACTIVE,
    DELETED,
    EXPIRED,
    GRANTED,
    REVOKED,
    Consent,
    ConsentEvent,
)

CONSENT_TERM = timedelta(days=365)
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class ConsentState:
    """One user × connector consent as it stands at the time asked about."""

    user_key: str
    connector: str
    state: str
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ConsentEventRow:
    """One entry of the append-only event log."""

    id: int
    user_key: str
    connector: str
    event: str
    at: datetime


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision shipped in the package (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _engine(url: str) -> Engine:
    """An engine for the URL; a SQLite file gets its folder and waits for other writers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    _sqlite_real_transactions(engine)
    return engine


def _sqlite_real_transactions(engine: Engine) -> None:
    """Make SQLite transactions cover DDL too (pysqlite's default does not).

    A migration and its version stamp then commit together or not at all, so a process killed
    mid-migration leaves the database as it was (see SQLAlchemy's pysqlite notes).
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE: writers (and two processes migrating a new file) queue instead of racing.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _effective(row: Consent, now: datetime) -> str:
    """The state at ``now``: an active consent past its expiry is expired, recorded or not."""
    return EXPIRED if row.state == ACTIVE and row.expires_at <= now else row.state


class ConsentStore:
    """SQLAlchemy-backed; opening it migrates the database to the current schema."""

    def __init__(self, url: str) -> None:
        self._engine = _engine(url)
        migrate(self._engine)

    def close(self) -> None:
        """Release the engine's connections."""
        self._engine.dispose()

    def __enter__(self) -> ConsentStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def grant(self, user_key: str, connector: str, now: datetime | None = None) -> ConsentState:
        """Grant (or renew) consent for a year from ``now``."""
        at = _now(now)
        with Session(self._engine) as session, session.begin():
            row = session.get(Consent, (user_key, connector))
            if row is None:
                row = Consent(user_key=user_key, connector=connector)
                session.add(row)
            row.state = ACTIVE
            row.granted_at = at
            row.expires_at = at + CONSENT_TERM
            row.revoked_at = None
            session.add(ConsentEvent(user_key=user_key, connector=connector, event=GRANTED, at=at))
            return ConsentState(user_key, connector, ACTIVE, at, at + CONSENT_TERM)

    def revoke(self, user_key: str, connector: str, now: datetime | None = None) -> bool:
        """Revoke an active consent; False when there was none to revoke."""
        at = _now(now)
        with Session(self._engine) as session, session.begin():
            row = session.get(Consent, (user_key, connector))
            if row is None or _effective(row, at) != ACTIVE:
                return False
            row.state = REVOKED
            row.revoked_at = at
            session.add(ConsentEvent(user_key=user_key, connector=connector, event=REVOKED, at=at))
            return True

    def delete(self, user_key: str, now: datetime | None = None) -> int:
        """Mark every consent of a user whose data was purged; returns the consents marked."""
        at = _now(now)
        with Session(self._engine) as session, session.begin():
            rows = session.scalars(
                select(Consent).where(Consent.user_key == user_key, Consent.state != DELETED)
            ).all()
            for row in rows:
                row.state = DELETED
                session.add(
                    ConsentEvent(user_key=user_key, connector=row.connector, event=DELETED, at=at)
                )
            return len(rows)

    def state(self, user_key: str, connector: str, now: datetime | None = None) -> str | None:
        """The consent's state at ``now``, or None when consent was never granted."""
        with Session(self._engine) as session:
            row = session.get(Consent, (user_key, connector))
            return None if row is None else _effective(row, _now(now))

    def active(self, user_key: str, connector: str, now: datetime | None = None) -> bool:
        """Whether the connection may be refreshed at ``now``."""
        return self.state(user_key, connector, now) == ACTIVE

    def status(self, user_key: str, now: datetime | None = None) -> list[ConsentState]:
        """Every consent of one user, by connector."""
        at = _now(now)
        with Session(self._engine) as session:
            rows = session.scalars(
                select(Consent).where(Consent.user_key == user_key).order_by(Consent.connector)
            ).all()
            return [self._view(row, at) for row in rows]

    def active_connections(
        self,
        now: datetime | None = None,
        after: tuple[str, str] | None = None,
        limit: int | None = None,
    ) -> list[tuple[str, str]]:
        """(user_key, connector) of every active consent, in key order.

        ``after`` and ``limit`` page through them (keyset pagination), so a large registry is
        read in batches.
        """
        query = (
            select(Consent.user_key, Consent.connector)
            .where(Consent.state == ACTIVE, Consent.expires_at > _now(now))
            .order_by(Consent.user_key, Consent.connector)
            .limit(limit)
        )
        if after is not None:
            user_key, connector = after
            query = query.where(
                (Consent.user_key > user_key)
                | ((Consent.user_key == user_key) & (Consent.connector > connector))
            )
        with Session(self._engine) as session:
            return [(u, c) for u, c in session.execute(query).tuples()]

    def expiring_between(self, start: datetime, end: datetime) -> list[ConsentState]:
        """Active consents expiring in [start, end): whom the 30-day notice is for."""
        query = (
            select(Consent)
            .where(Consent.state == ACTIVE, Consent.expires_at >= start, Consent.expires_at < end)
            .order_by(Consent.expires_at, Consent.user_key, Consent.connector)
        )
        with Session(self._engine) as session:
            return [self._view(row, start) for row in session.scalars(query).all()]

    def expire(self, now: datetime | None = None) -> int:
        """Record every consent past its expiry as expired (with an event); returns how many."""
        at = _now(now)
        due = (Consent.state == ACTIVE) & (Consent.expires_at <= at)
        with Session(self._engine) as session, session.begin():
            rows = session.execute(select(Consent.user_key, Consent.connector).where(due)).all()
            session.add_all(
                ConsentEvent(user_key=u, connector=c, event=EXPIRED, at=at) for u, c in rows
            )
            session.execute(update(Consent).where(due).values(state=EXPIRED))
            return len(rows)

    def counts(self) -> dict[str, int]:
        """How many consents are in each recorded state (call ``expire`` first to be current)."""
        with Session(self._engine) as session:
            rows = session.execute(
                select(Consent.state, func.count()).group_by(Consent.state)
            ).tuples()
            return dict(rows.all())

    def events(self, user_key: str | None = None) -> list[ConsentEventRow]:
        """The event log in the order it was written, for one user or everyone."""
        query = select(ConsentEvent).order_by(ConsentEvent.id)
        if user_key is not None:
            query = query.where(ConsentEvent.user_key == user_key)
        with Session(self._engine) as session:
            return [
                ConsentEventRow(e.id, e.user_key, e.connector, e.event, e.at)
                for e in session.scalars(query).all()
            ]

    @staticmethod
    def _view(row: Consent, now: datetime) -> ConsentState:
        return ConsentState(
            row.user_key, row.connector, _effective(row, now), row.granted_at, row.expires_at
        )
