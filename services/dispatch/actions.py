"""What can be done to the outbox outside a delivery pass: the merchant's retry and counts
(dashboard, CLI), and the privacy erasure `customers/redact` asks for."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, update
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.tables import OutboxMessage
from services.dispatch.outbox import CUSTOMER_GONE, FAILED, PENDING, SENDING, SKIPPED


def retry_failed(
    session: Session,
    ids: Sequence[int] | None = None,
    now: datetime | None = None,
    *,
    integration: str | None = None,
) -> int:
    """Queue failed rows again (all, one integration's, or the given ids) with a fresh attempt
    count; the error they failed with stays readable until they are sent. Returns how many
    were re-queued."""
    query = update(OutboxMessage).where(col(OutboxMessage.status) == FAILED)
    if integration is not None:
        query = query.where(col(OutboxMessage.integration) == integration)
    if ids is not None:
        query = query.where(col(OutboxMessage.id).in_(list(ids)))
    result = session.execute(
        query.values(status=PENDING, attempts=0, next_attempt_at=now or utcnow())
    )
    session.flush()
    return rowcount(result)


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    """Rows per integration and status, for the dashboard's delivery overview."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for integration, status, n in session.exec(
        select(OutboxMessage.integration, OutboxMessage.status, func.count()).group_by(
            col(OutboxMessage.integration), col(OutboxMessage.status)
        )
    ):
        counts[integration][status] = int(n)
    return dict(counts)


def erase_customer_messages(session: Session, customer_ids: Sequence[int]) -> int:
    """For `customers/redact`: unsent messages become skipped, and every message's payload
    (which holds the email and phone) is emptied. Returns the rows touched."""
    if not customer_ids:
        return 0
    ids = list(customer_ids)
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.customer_id).in_(ids),
            col(OutboxMessage.status).in_((PENDING, SENDING, FAILED)),
        )
        .values(status=SKIPPED, skip_reason=CUSTOMER_GONE, claimed_by=None, claimed_until=None)
    )
    result = session.execute(
        update(OutboxMessage).where(col(OutboxMessage.customer_id).in_(ids)).values(payload={})
    )
    session.flush()
    return rowcount(result)


def rowcount(result: object) -> int:
    """Rows an UPDATE matched (SQLModel's `Session.execute` is typed as returning any result;
    an UPDATE's is a cursor result)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)
