"""Shared fixtures: fresh migrated databases (SQLite file; PostgreSQL when reachable)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from services.db import forget_engines, get_engine, migrate

POSTGRES_URL = os.environ.get(
    "REPEATCART_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


def _postgres_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        with get_engine(POSTGRES_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        return f"PostgreSQL not available at {POSTGRES_URL}: {type(error).__name__}"
    return None


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server, dropped at the end of the run."""
    reason = _postgres_reason()
    if reason is not None:
        if os.environ.get("REPEATCART_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason=reason)
    name = f"repeatcart_test_{uuid.uuid4().hex[:10]}"
    admin = get_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    get_engine(url).dispose()
    forget_engines()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    """A freshly migrated database of each kind; PostgreSQL ones are emptied after the test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'repeatcart.db'}"
        migrate(url)
        yield url
        get_engine(url).dispose()
        return
    server_url = request.getfixturevalue("postgres_server_url")
    migrate(server_url)
    yield server_url
    with get_engine(server_url).begin() as connection:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        names = ", ".join(f'"{name}"' for name in tables if name != "alembic_version")
        if names:
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    with Session(get_engine(database_url), expire_on_commit=False) as session:
        yield session
