"""Create the consents table and the append-only consent_events log.

A snapshot: it names its values literally, so later model changes never rewrite history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create both tables and the indexes the refresh and status queries use."""
    op.create_table(
        "consents",
        sa.Column("user_key", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_key", "connector"),
        sa.CheckConstraint(
            "state IN ('active', 'revoked', 'expired', 'deleted')", name="ck_consents_state"
        ),
    )
    op.create_index("ix_consents_state", "consents", ["state"])
    op.create_index("ix_consents_expires_at", "consents", ["expires_at"])
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_key", sa.String(64), nullable=False),
        sa.Column("connector", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.CheckConstraint(
            "event IN ('granted', 'revoked', 'expired', 'deleted')", name="ck_consent_events_event"
        ),
    )
    op.create_index("ix_consent_events_user_key", "consent_events", ["user_key"])


def downgrade() -> None:
    """Drop both tables (their indexes go with them)."""
    op.drop_table("consent_events")
    op.drop_table("consents")
