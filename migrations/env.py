"""Alembic environment: the URL comes from RepeatCart's settings (or the caller), never the ini."""

from alembic import context
from sqlmodel import SQLModel

import services.core.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from services.core.config import get_settings
from services.core.db import get_engine

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=SQLModel.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with get_engine(url).connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
