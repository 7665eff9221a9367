"""Alembic environment: migrates the database named by the caller's sqlalchemy.url."""

from __future__ import annotations

from alembic import context

from token_service.store import Base, create_db_engine

config = context.config
engine = create_db_engine(config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
