"""Alembic environment: migrations run only programmatically, on the caller's connection.

``healthex_pipeline.consent.store.migrate`` puts an open connection in the config's attributes;
there is no alembic.ini and no offline (SQL script) mode.
"""

from alembic import context
from sqlalchemy import Connection

from healthex_pipeline.consent.models import Base

connection: Connection = context.config.attributes["connection"]
# One transaction for the whole upgrade, version stamp included (SQLite runs DDL in transactions
# here, see the store's engine): an interrupted upgrade leaves nothing half-done.
context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
