"""The consent tables, in portable SQL (SQLite here, PostgreSQL by changing the URL only).

Times are stored as naive UTC timestamps and handed back timezone-aware, so both engines compare
and return the same values whatever their session time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, Dialect, Integer, String, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIVE = "active"
REVOKED = "revoked"
EXPIRED = "expired"
DELETED = "deleted"
STATES: tuple[str, ...] = (ACTIVE, REVOKED, EXPIRED, DELETED)

GRANTED = "granted"
EVENTS: tuple[str, ...] = (GRANTED, REVOKED, EXPIRED, DELETED)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime in Python, a naive UTC timestamp in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("consent times must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """The consent tables' metadata; the migrations must create exactly this schema."""


class Consent(Base):
    """The current consent of one user × connector; history lives in ``consent_events``."""

    __tablename__ = "consents"
    __table_args__ = (CheckConstraint(f"state IN {STATES!r}", name="ck_consents_state"),)

    user_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    connector: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ConsentEvent(Base):
    """One change of a consent, in order; rows are only ever inserted."""

    __tablename__ = "consent_events"
    __table_args__ = (CheckConstraint(f"event IN {EVENTS!r}", name="ck_consent_events_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_key: Mapped[str] = mapped_column(String(64), index=True)
    connector: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
