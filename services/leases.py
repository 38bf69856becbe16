"""Database leases, so a job runs once at a time across worker processes and web workers.

A lease is a row with an expiry. Taking it is one atomic statement (an INSERT, or an UPDATE
that only matches an expired row or our own), which works the same on SQLite and PostgreSQL.
A holder that dies stops renewing; its lease expires and the next run takes over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from services.db import get_engine
from services.models import JobLease, utcnow

__all__ = ["acquire", "holder_id", "lease", "release", "renew"]

log = logging.getLogger(__name__)


def holder_id() -> str:
    """Who holds a lease: readable in the database (host and pid) and unique per call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take the lease `name` if it is free, expired, or already ours; True when taken."""
    now = now or utcnow()
    values = {"holder": holder, "acquired_at": now, "expires_at": now + ttl}
    engine = get_engine()
    try:
        with engine.begin() as connection:
            connection.execute(insert(JobLease).values(name=name, **values))
        return True
    except IntegrityError:
        pass
    with engine.begin() as connection:
        taken = connection.execute(
            update(JobLease)
            .where(
                JobLease.name == name,
                or_(JobLease.expires_at < now, JobLease.holder == holder),
            )
            .values(**values)
        )
        return taken.rowcount == 1


def renew(name: str, holder: str, ttl: timedelta) -> bool:
    """Push our lease's expiry out; False when it is no longer ours (it expired and was taken)."""
    now = utcnow()
    with get_engine().begin() as connection:
        result = connection.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.holder == holder)
            .values(expires_at=now + ttl)
        )
        return result.rowcount == 1


def release(name: str, holder: str) -> None:
    with get_engine().begin() as connection:
        connection.execute(delete(JobLease).where(JobLease.name == name, JobLease.holder == holder))


@contextmanager
def lease(name: str, ttl: timedelta = timedelta(minutes=2)) -> Iterator[bool]:
    """Hold `name` for the block, renewed in the background; yields False if someone else has it.

    Renewal runs every third of the TTL, so a long job keeps its lease while a crashed one
    loses it within one TTL.
    """
    holder = holder_id()
    if not acquire(name, holder, ttl):
        yield False
        return
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(ttl.total_seconds() / 3):
            try:
                if not renew(name, holder, ttl):
                    log.warning("lease %s was lost by %s", name, holder)
                    return
            except Exception:  # a database blip: try again next beat, the TTL covers it
                log.exception("lease %s renewal failed", name)

    beat = threading.Thread(target=keep_alive, name=f"lease-{name}", daemon=True)
    beat.start()
    try:
        yield True
    finally:
        stop.set()
        beat.join(timeout=5)
        release(name, holder)
