"""Each customer's own discount code: reserved by the due scan, read by the cart and delivery.

The scan reserves a code (`pending`) for every customer it queues a Due event for, in one
read and one insert per batch: no HTTP, nothing store-wide. A customer keeps their live code
across cycles while it cannot have been spent (it was reserved after their last order) and has
at least a day left; otherwise it is retired and a new one reserved. A code is random
(`secrets`), unique in the table and never handed to anyone else; the worker's `unique-codes`
job creates the pending ones in Shopify (`services.discounts.creation`).

Delivery waits up to `CODE_WAIT` for a pending code (postponing the row a minute at a time),
then sends with the shop's global code rather than hold the reminder back; a failed code sends
the global code at once. The event's `discount_code` is the unique code once created.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from services.core.config import get_settings, parse_flag
from services.core.tables import AppSetting, Shop, UniqueCode

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or typed from a text
CODE_LENGTH = 8
CODE_WAIT = timedelta(minutes=15)
"""How long a Due event waits for its code to be created before it goes with the global code."""
RETRY_EVERY = timedelta(minutes=1)
MIN_LEFT = timedelta(days=1)  # a code with less left than this is replaced for a new reminder
PENDING, CREATED, FAILED = "pending", "created", "failed"
CODES = UniqueCode.__table__  # type: ignore[attr-defined]


def new_code(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _keeps(row: Any, anchor: datetime | None, now: datetime) -> bool:
    if row.state == FAILED:
        return False
    if anchor is not None and row.reserved_at <= anchor:
        return False  # the customer ordered since: they may have spent it
    return row.ends_at is None or row.ends_at - now >= MIN_LEFT


def reserve_codes(
    session: Session,
    anchors: Mapping[int, datetime | None],
    prefix: str,
    now: datetime,
) -> dict[int, str]:
    """A live code for each customer in `anchors` (their last purchase): kept or newly reserved.

    Two scans at once are harmless: the live-code index lets one insert per customer win, and
    the codes are read back after inserting."""
    if not anchors:
        return {}
    connection = session.connection()
    ids = sorted(anchors)
    live = connection.execute(
        select(CODES.c.id, CODES.c.customer_id, CODES.c.state, CODES.c.reserved_at, CODES.c.ends_at)
        .where(CODES.c.customer_id.in_(ids))
        .where(CODES.c.retired_at.is_(None))
    ).all()
    kept = {row.customer_id for row in live if _keeps(row, anchors[row.customer_id], now)}
    stale = [row.id for row in live if row.customer_id not in kept]
    if stale:
        connection.execute(update(CODES).where(CODES.c.id.in_(stale)).values(retired_at=now))
    fresh = [
        {"customer_id": cid, "code": new_code(prefix), "state": PENDING, "error": "",
         "discount_gid": "", "reserved_at": now}
        for cid in ids if cid not in kept
    ]  # fmt: skip
    if fresh:
        postgres = session.get_bind().dialect.name == "postgresql"
        insert = postgresql.insert(CODES) if postgres else sqlite.insert(CODES)
        connection.execute(insert.on_conflict_do_nothing(), fresh)
    return live_codes(session, ids)


def live_codes(session: Session, customer_ids: Sequence[int]) -> dict[int, str]:
    rows = session.connection().execute(
        select(CODES.c.customer_id, CODES.c.code)
        .where(CODES.c.customer_id.in_(list(customer_ids)))
        .where(CODES.c.retired_at.is_(None))
    )
    return {cid: code for cid, code in rows}


def attach_codes(
    session: Session,
    rows: Iterable[dict[str, Any]],
    anchors: Mapping[int, datetime],
    prefix: str,
    now: datetime,
) -> None:
    """Reserve codes for the customers of the Due rows about to be queued, and note each one's
    code in its row's payload (delivery turns it into the event's `discount_code`)."""
    due = [row for row in rows if row["kind"] == "due" and not row.get("skip_reason")]
    if not due:
        return
    customers = {row["customer_id"]: anchors.get(row["customer_id"]) for row in due}
    codes = reserve_codes(session, customers, prefix, now)
    for row in due:
        code = codes.get(row["customer_id"])
        if code:
            row["payload"]["unique_code"] = code


def unique_codes_on(session: Session) -> bool:
    """The dashboard's switch, else `REPEATCART_UNIQUE_CODES`: one primary-key read (the cart
    and the scan ask on every load)."""
    saved = (
        session.connection()
        .execute(select(col(AppSetting.value)).where(col(AppSetting.name) == "unique_codes"))
        .scalar()
    )
    return get_settings().unique_codes if saved is None else parse_flag(saved)


_CODE_OF = select(CODES.c.state, CODES.c.reserved_at, CODES.c.ends_at, CODES.c.retired_at).where(
    CODES.c.code == bindparam("code")
)
_GLOBAL = select(col(Shop.discount_code)).order_by(col(Shop.id)).limit(1)
_CUSTOMER_CODE = (
    select(CODES.c.code, CODES.c.ends_at)
    .where(CODES.c.customer_id == bindparam("cid"))
    .where(CODES.c.retired_at.is_(None))
    .where(CODES.c.state == CREATED)
)


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    """What a Due event sends: `code`, or wait until `wait_until` for the pending one."""

    code: str
    wait_until: datetime | None = None


def event_code(session: Session, code: str, now: datetime) -> CodeOutcome:
    """The `discount_code` of a Due event reserved `code`: it once created, the global code if
    it failed or waited `CODE_WAIT` in vain; else wait a minute more."""
    connection = session.connection()
    row = connection.execute(_CODE_OF, {"code": code}).first()
    if row is not None and row.retired_at is None:
        if row.state == CREATED and (row.ends_at is None or row.ends_at > now):
            return CodeOutcome(code)
        if row.state == PENDING and now < row.reserved_at + CODE_WAIT:
            return CodeOutcome("", wait_until=min(now + RETRY_EVERY, row.reserved_at + CODE_WAIT))
    return CodeOutcome(connection.execute(_GLOBAL).scalar() or "")


def cart_code(session: Session, customer_id: int, now: datetime) -> str | None:
    """The customer's created, unexpired code for their cart; None: show the global one."""
    if not unique_codes_on(session):
        return None
    row = session.connection().execute(_CUSTOMER_CODE, {"cid": customer_id}).first()
    if row is None or (row.ends_at is not None and row.ends_at <= now):
        return None
    return str(row.code)
