"""How the unique codes stand, for the Sync page: counts by state and the last run's failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from services.core.tables import SyncState
from services.discounts.codes import CODES, CREATED, FAILED, PENDING
from services.discounts.creation import STATE


@dataclass(frozen=True, slots=True)
class CodesStatus:
    enabled: bool = False
    pending: int = 0
    created: int = 0
    failed: int = 0
    error: str = ""  # the last run's failure ("Could not create discount codes: ...")
    last_run_at: datetime | None = None
    last_failure: str = ""  # the newest failed code's reason, when the last run went well


def codes_status(session: Session, enabled: bool) -> CodesStatus:
    counts: dict[str, int] = dict(
        session.connection()
        .execute(
            select(CODES.c.state, func.count())
            .where(CODES.c.retired_at.is_(None))
            .group_by(CODES.c.state)
        )
        .all()
    )
    state = session.get(SyncState, STATE)
    last_failure = ""
    if counts.get(FAILED):
        last_failure = (
            session.connection()
            .execute(
                select(CODES.c.error)
                .where(CODES.c.state == FAILED, CODES.c.retired_at.is_(None))
                .order_by(CODES.c.id.desc())
                .limit(1)
            )
            .scalar()
            or ""
        )
    return CodesStatus(
        enabled=enabled,
        pending=int(counts.get(PENDING, 0)),
        created=int(counts.get(CREATED, 0)),
        failed=int(counts.get(FAILED, 0)),
        error=state.last_error if state and state.last_status == "failed" else "",
        last_run_at=state.last_finished_at if state else None,
        last_failure=last_failure,
    )
