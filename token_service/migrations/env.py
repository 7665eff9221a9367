"""Alembic environment: migrates the database named by the caller's sqlalchemy.url."""

from __future__ import annotations

from alembic import context

from token_service.store import Base, create_db_engine

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("the migration was started without a database URL")
engine = create_db_engine(url)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
