"""Database leases, so a job runs once at a time across worker processes and web workers.

A lease is a row with an expiry and a fencing token. Taking it is one atomic statement (an
INSERT, or an UPDATE that only matches an expired row or our own), which works the same on
SQLite and PostgreSQL, and every taking counts the token up. A holder that dies stops renewing;
its lease expires and the next run takes over.

A holder that only stalls (a database outage longer than the lease, a paused process) may wake
to find its lease taken. Its keep-alive marks the lease lost when it cannot renew, and the long
jobs call `confirm_held` inside each write transaction, which checks holder and token in the
same transaction: the stale holder's next write is refused with `LeaseLost` instead of racing
the new holder, and what it committed before stays for the new holder to resume from.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from services.core.clock import utcnow
from services.core.db import get_engine
from services.core.tables import JobLease

__all__ = [
    "Lease",
    "LeaseLost",
    "acquire",
    "confirm_held",
    "held",
    "holder_id",
    "lease",
    "release",
    "renew",
]

log = logging.getLogger(__name__)

RELEASED = datetime(1970, 1, 1, tzinfo=UTC)
"""The expiry of a released lease: its row stays, so the token keeps counting."""


class LeaseLost(RuntimeError):
    """The lease was taken over or expired: stop writing; the next holder resumes the work."""


@dataclass(eq=False)
class Lease:
    """A lease this process holds; `lost` is set once it is known to be someone else's."""

    name: str
    holder: str
    token: int
    ttl: timedelta
    lost: threading.Event = field(default_factory=threading.Event)

    def mark_lost(self, why: str) -> None:
        if not self.lost.is_set():
            log.warning(
                "lease %s (token %s) lost by %s: %s", self.name, self.token, self.holder, why
            )
            self.lost.set()


_HELD: ContextVar[tuple[Lease, ...]] = ContextVar("repeatcart_held_leases", default=())


def held() -> tuple[Lease, ...]:
    """The leases the current thread holds through `lease()`, innermost last."""
    return _HELD.get()


def holder_id() -> str:
    """Who holds a lease: readable in the database (host and pid) and unique per call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> int | None:
    """Take the lease `name` if it is free, expired, or already ours.

    Returns the new fencing token (1, 2, ... for each taking), or None when someone holds it.
    """
    now = now or utcnow()
    values = {"holder": holder, "acquired_at": now, "expires_at": now + ttl}
    engine = get_engine()
    try:
        with engine.begin() as connection:
            connection.execute(insert(JobLease).values(name=name, token=1, **values))
        return 1
    except IntegrityError:
        pass
    with engine.begin() as connection:
        taken = connection.execute(
            update(JobLease)
            .where(
                col(JobLease.name) == name,
                or_(col(JobLease.expires_at) < now, col(JobLease.holder) == holder),
            )
            .values(token=col(JobLease.token) + 1, **values)
        )
        if taken.rowcount != 1:
            return None
        # the row stays locked (or the database, on SQLite) until this transaction ends
        token = select(col(JobLease.token)).where(col(JobLease.name) == name)
        return int(connection.execute(token).scalar_one())


def renew(name: str, holder: str, ttl: timedelta, token: int | None = None) -> bool:
    """Push our lease's expiry out; False when it is no longer ours (taken, or expired)."""
    now = utcnow()
    with get_engine().begin() as connection:
        result = connection.execute(
            update(JobLease).where(*_ours(name, holder, token, now)).values(expires_at=now + ttl)
        )
        return result.rowcount == 1


def release(name: str, holder: str, token: int | None = None) -> None:
    """Free our lease at once (a lease no longer ours is left alone)."""
    with get_engine().begin() as connection:
        connection.execute(
            update(JobLease)
            .where(col(JobLease.name) == name, col(JobLease.holder) == holder)
            .where(*([col(JobLease.token) == token] if token is not None else []))
            .values(expires_at=RELEASED)
        )


def confirm_held(session: Session) -> None:
    """Inside the caller's write transaction: raise `LeaseLost` unless this thread still holds
    every lease it took, and push their expiry out.

    The check is an UPDATE matching our holder and token while unexpired, so it locks the lease
    row (PostgreSQL) or the database (SQLite) until the caller's transaction ends: nobody can
    take the lease between the check and the commit, and a refusal rolls the writes back.
    Outside any lease it does nothing.
    """
    leases = _HELD.get()
    if not leases:
        return
    now = utcnow()
    connection = session.connection()
    for mine in leases:
        if mine.lost.is_set():
            raise LeaseLost(f"the lease {mine.name!r} was lost; its next holder resumes the work")
        result = connection.execute(
            update(JobLease)
            .where(*_ours(mine.name, mine.holder, mine.token, now))
            .values(expires_at=now + mine.ttl)
        )
        if result.rowcount != 1:
            mine.mark_lost("taken over or expired before a write")
            raise LeaseLost(f"the lease {mine.name!r} was taken over; its next holder resumes")


def _ours(name: str, holder: str, token: int | None, now: datetime) -> list[ColumnElement[bool]]:
    conditions = [
        col(JobLease.name) == name,
        col(JobLease.holder) == holder,
        col(JobLease.expires_at) > now,
    ]
    if token is not None:
        conditions.append(col(JobLease.token) == token)
    return conditions


@contextmanager
def lease(name: str, ttl: timedelta = timedelta(minutes=2)) -> Iterator[bool]:
    """Hold `name` for the block, renewed in the background; yields False if someone else has it.

    Renewal runs every third of the TTL, so a long job keeps its lease while a crashed one
    loses it within one TTL. Inside the block the lease is in `held()`, for `confirm_held`.
    """
    holder = holder_id()
    now = utcnow()
    token = acquire(name, holder, ttl, now)
    if token is None:
        yield False
        return
    mine = Lease(name, holder, token, ttl)
    stop = threading.Event()
    beat = threading.Thread(
        target=_keep_alive, args=(mine, stop, now), name=f"lease-{name}", daemon=True
    )
    beat.start()
    entered = _HELD.set((*_HELD.get(), mine))
    try:
        yield True
    finally:
        _HELD.reset(entered)
        stop.set()
        beat.join(timeout=5)
        try:
            release(name, holder, token)
        except Exception:  # the database may be what failed; the lease then simply expires
            log.exception("lease %s could not be released", name)


def _keep_alive(mine: Lease, stop: threading.Event, acquired_at: datetime) -> None:
    """Renew every third of the TTL; a refused renewal, or none for a whole TTL, loses it."""
    renewed_at = acquired_at
    while not stop.wait(mine.ttl.total_seconds() / 3):
        attempt = utcnow()
        try:
            if not renew(mine.name, mine.holder, mine.ttl, mine.token):
                mine.mark_lost("the renewal was refused")
                return
            renewed_at = attempt
        except Exception:  # a database blip: try again next beat, while the TTL covers it
            log.exception("lease %s renewal failed", mine.name)
            if utcnow() - renewed_at >= mine.ttl:
                mine.mark_lost(f"not renewed for {mine.ttl}, so it may be someone else's")
                return
