"""Shared fixtures: fresh migrated databases (SQLite file; PostgreSQL when reachable), and the
session's clock, which `--clock-shift-days=N` moves N days ahead."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import forget_engines, get_engine, migrate
from tests.clock_shift import SHIFT_ENV, shift_days, travel_ahead

POSTGRES_URL = os.environ.get(
    "REPEATCART_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-shift-days",
        type=int,
        default=None,
        metavar="N",
        help=f"run every test, and the processes tests start, N days in the future (default: "
        f"${SHIFT_ENV}, else 0); a test that mixes a fixed date with the real clock then fails",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last, and those serving an app of their own after the rest.

    Playwright's sync API leaves its event loop marked as running on the main thread while the
    session's browser lives, so a later test calling `asyncio.run` would fail. Starting an app
    rebuilds the shared frontend build with that app's port, so the session's demo app would
    lose its websocket after it.
    """
    items.sort(
        key=lambda item: (
            "e2e" in item.path.parts,
            item.get_closest_marker("own_app") is not None,
        )
    )


def pytest_configure(config: pytest.Config) -> None:
    """Start the shift before collection, so module-level dates are shifted too."""
    days = config.getoption("clock_shift_days")
    days = shift_days() if days is None else days
    os.environ[SHIFT_ENV] = str(days)  # what `subprocess_env` hands on
    if days:
        travel_ahead(days)


def pytest_report_header(config: pytest.Config) -> str:
    days = shift_days()
    shifted = f"shifted {days} days ahead" if days else "not shifted"
    return f"clock: {shifted}, now {utcnow():%Y-%m-%d %H:%M} UTC"


def _postgres_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        with get_engine(POSTGRES_URL).connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001
        return f"PostgreSQL not available at {POSTGRES_URL}: {type(error).__name__}"
    return None


@contextmanager
def new_postgres_database(prefix: str = "repeatcart_test") -> Iterator[str]:
    """An empty database on the PostgreSQL server (no schema), dropped after; skips (or fails,
    with REPEATCART_REQUIRE_POSTGRES=1) when no server is reachable."""
    reason = _postgres_reason()
    if reason is not None:
        if os.environ.get("REPEATCART_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason=reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = get_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        get_engine(url).dispose()
        forget_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server, dropped at the end of the run."""
    with new_postgres_database() as url:
        yield url


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


@pytest.fixture
def app_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The configured database (what a use case's `session_scope()` opens) is the test's."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    get_settings.cache_clear()
    forget_engines()
    yield database_url
    get_engine().dispose()
    get_settings.cache_clear()
    forget_engines()
