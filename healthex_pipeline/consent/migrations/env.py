"""Alembic environment: migrations run only programmatically, on the caller's connection.

``healthex_pipeline.consent.store.migrate`` puts an open connection in the config's attributes;
there is no alembic.ini and no offline (SQL script) mode.
"""

from alembic import context
from sqlalchemy import Connection

from healthex_pipeline.consent.models import Base

connection: Connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
