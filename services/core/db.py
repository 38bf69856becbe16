"""Engine and sessions. SQLite gets WAL, foreign keys and secure delete; PostgreSQL is used as
configured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from services.core.config import PROJECT_ROOT, get_settings

log = logging.getLogger(__name__)


def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL for the life of the process (the settings' URL by default)."""
    return _engine_for(url or get_settings().database_url)


_ENGINES: dict[str, Engine] = {}


def _engine_for(url: str) -> Engine:
    if url not in _ENGINES:
        _ENGINES[url] = _create_engine(url)
    return _ENGINES[url]


POOL_SIZE = 10
"""Connections kept open per process: the web process's handler threads (asyncio's default pool
of cores + 4) plus the cart-event flusher and the embedded jobs. Below that, every burst opened
and closed overflow connections, each paying SQLite's pragmas or a PostgreSQL login."""


def dump_json(value: Any) -> str:
    """JSON columns' serializer: orjson, because the stdlib encoder took an eighth of the daily
    scan's time. Non-string keys become strings, as with `json.dumps`."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON = {"json_serializer": dump_json, "json_deserializer": orjson.loads}


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=POOL_SIZE,
            **_JSON,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, **_JSON)


def ping(url: str | None = None) -> None:
    """One round trip to the database; raises when it cannot be reached."""
    with get_engine(url).connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def forget_engines() -> None:
    """Close every cached engine (tests and benchmarks that drop their databases)."""
    for engine in list(_ENGINES.values()):
        engine.dispose()
    _ENGINES.clear()


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    """`secure_delete` zeroes what a delete or update frees: erased personal data must not
    stay readable in free space of the database file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def checkpoint_wal(url: str | None = None) -> bool:
    """On SQLite, copy the write-ahead log into the database file and truncate it: the log
    still holds earlier versions of pages, so an erase is only complete once it is emptied.
    Call after the erasing transaction committed. True when done (always, off SQLite); False
    when a reader kept it from finishing, and the next checkpoint completes it."""
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        busy, _frames, _copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning("SQLite WAL checkpoint did not complete: a reader was active")
    return not busy


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def migrate(url: str | None = None) -> None:
    """Bring the schema to the newest Alembic revision (the only way the schema is created)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["database_url"] = url or get_settings().database_url
    command.upgrade(cfg, "head")
