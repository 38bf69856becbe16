"""The worker's `unique-codes` job: pending codes → Shopify, 250 at a time, each one settled.

It keeps one basic code discount (once per customer, usage limit 1) in the `sync_state` row
'unique-codes' (`last_summary`: its GID, the kind and value it was made with, when to stop
adding to it, when it ends). A new discount is created when there is none, when the kind or
value changed, or once `unique_code_days` have passed since it was made: it ends
2 × `unique_code_days` after creation, so every code added to it stays valid at least
`unique_code_days`. Pending codes go up in batches of ≤ 250 with `discountRedeemCodeBulkAdd`;
the creation is polled until done and each code settled: `created`, a taken code (TAKEN: it
already exists in the shop) drawn afresh and left pending for the next batch, any other
per-code error `failed` with Shopify's message. A refusal of the whole call (no
`write_discounts` scope, the discount gone) fails the batch with the reason, shown on the Sync
page; a transient failure (Shopify down after the client's retries) leaves the codes pending,
and their Due events go with the global code after `CODE_WAIT`. Commits after each batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.config import Settings
from services.core.db import session_scope
from services.core.provider_http import ProviderError
from services.core.tables import SyncState, UniqueCode
from services.discounts.codes import CODES, CREATED, FAILED, PENDING, new_code
from services.settings.unique_codes import value_text
from services.shopify.client import ShopifyClient
from services.shopify.discounts import (
    MAX_CODES_PER_CALL,
    add_codes,
    create_code_discount,
    explain,
    wait_for_codes,
)

log = logging.getLogger("repeatcart.discounts")

STATE = "unique-codes"
TAKEN = "TAKEN"
_SETTLE = (
    update(CODES)
    .where(CODES.c.id == bindparam("row_id"))
    .values(
        state=bindparam("new_state"),
        error=bindparam("new_error"),
        discount_gid=bindparam("gid"),
        ends_at=bindparam("ends"),
        settled_at=bindparam("settled"),
        code=bindparam("new_code"),
    )
)


@dataclass(slots=True)
class CodesSummary:
    created: int = 0
    failed: int = 0
    redrawn: int = 0  # taken codes drawn afresh
    batches: int = 0
    discounts: int = 0
    error: str = ""

    def line(self) -> str:
        text = (
            f"codes created={self.created} failed={self.failed} redrawn={self.redrawn} "
            f"batches={self.batches} discounts={self.discounts}"
        )
        return text + (f" error={self.error!r}" if self.error else "")


@dataclass(frozen=True, slots=True)
class _Discount:
    gid: str
    ends_at: datetime


def _state(session: Session) -> SyncState:
    return session.get(SyncState, STATE) or SyncState(name=STATE)


def _signature(settings: Settings) -> str:
    return f"{settings.unique_code_kind}:{settings.unique_code_value}"


def _label(settings: Settings) -> str:
    kind = settings.unique_code_kind
    percent = "%" if kind == "percentage" else ""
    return f"{value_text(kind, settings.unique_code_value)}{percent} off"


def _discount(
    client: ShopifyClient, settings: Settings, now: datetime, summary: CodesSummary
) -> _Discount:
    """The discount to add codes to: the saved one while it fits, else a new one."""
    with session_scope() as session:
        saved: dict[str, Any] = dict(_state(session).last_summary or {})
    if (
        saved.get("discount_gid")
        and saved.get("signature") == _signature(settings)
        and now < datetime.fromisoformat(saved["use_until"])
    ):
        return _Discount(saved["discount_gid"], datetime.fromisoformat(saved["ends_at"]))
    days = timedelta(days=settings.unique_code_days)
    ends_at = now + 2 * days
    gid = create_code_discount(
        client,
        title=f"RepeatCart reminder codes ({_label(settings)}, {now:%Y-%m-%d})",
        code=new_code(settings.unique_code_prefix),
        kind=settings.unique_code_kind,
        value=settings.unique_code_value,
        starts_at=now,
        ends_at=ends_at,
    )
    summary.discounts += 1
    with session_scope() as session:
        state = _state(session)
        state.last_summary = {
            "discount_gid": gid,
            "signature": _signature(settings),
            "use_until": (now + days).isoformat(),
            "ends_at": ends_at.isoformat(),
        }
        session.add(state)
    return _Discount(gid, ends_at)


def _pending(limit: int) -> list[tuple[int, str]]:
    with session_scope() as session:
        rows = session.exec(
            select(UniqueCode.id, UniqueCode.code)
            .where(UniqueCode.state == PENDING, col(UniqueCode.retired_at).is_(None))
            .order_by(col(UniqueCode.id))
            .limit(limit)
        ).all()
        return [(int(row_id), code) for row_id, code in rows if row_id is not None]


def _settle(changes: list[dict[str, Any]]) -> None:
    if changes:
        with session_scope() as session:
            session.connection().execute(_SETTLE, changes)


def _change(row_id: int, code: str, state: str, now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "row_id": row_id,
        "new_code": code,
        "new_state": state,
        "new_error": values.get("error", ""),
        "gid": values.get("gid", ""),
        "ends": values.get("ends"),
        "settled": now if state != PENDING else None,
    }


def _run_batch(
    client: ShopifyClient,
    discount: _Discount,
    batch: list[tuple[int, str]],
    settings: Settings,
    summary: CodesSummary,
    poll_seconds: float,
) -> None:
    started = add_codes(client, discount.gid, [code for _, code in batch])
    creation = wait_for_codes(client, started, poll_seconds=poll_seconds)
    now = utcnow()
    changes = []
    for row_id, code in batch:
        error = creation.errors.get(code)
        if error is None:
            ends = discount.ends_at
            changes.append(_change(row_id, code, CREATED, now, gid=discount.gid, ends=ends))
            summary.created += 1
        elif error.code == TAKEN:
            changes.append(_change(row_id, new_code(settings.unique_code_prefix), PENDING, now))
            summary.redrawn += 1
        else:
            message = f"{error.code}: {error.message}" if error.code else error.message
            changes.append(_change(row_id, code, FAILED, now, error=message))
            summary.failed += 1
    _settle(changes)
    summary.batches += 1


def _fail(batch: list[tuple[int, str]], reason: str, summary: CodesSummary) -> None:
    now = utcnow()
    _settle([_change(row_id, code, FAILED, now, error=reason) for row_id, code in batch])
    summary.failed += len(batch)


def _forget_discount() -> None:
    with session_scope() as session:
        state = _state(session)
        state.last_summary = {}
        session.add(state)


def _record(summary: CodesSummary, started: datetime) -> None:
    with session_scope() as session:
        state = _state(session)
        state.last_started_at, state.last_finished_at = started, utcnow()
        state.last_status = "failed" if summary.error else "ok"
        state.last_error = summary.error
        session.add(state)


def create_pending_codes(
    client: ShopifyClient,
    settings: Settings,
    *,
    max_codes: int = 20_000,
    poll_seconds: float = 1.0,
) -> CodesSummary:
    """Create pending codes in Shopify, up to `max_codes` a run (the next run goes on)."""
    summary = CodesSummary()
    if not settings.unique_codes:
        return summary
    started = utcnow()
    batch = _pending(MAX_CODES_PER_CALL)
    try:
        discount = _discount(client, settings, started, summary) if batch else None
        handled = 0
        while batch and discount is not None and handled < max_codes:
            try:
                _run_batch(client, discount, batch, settings, summary, poll_seconds)
            except ProviderError as error:
                if error.transient:
                    raise  # transient: the codes stay pending for the next run
                summary.error = f"Could not create discount codes: {explain(error)}"
                _fail(batch, summary.error, summary)
                _forget_discount()  # it may be gone: the next run makes a new one
                break
            handled += len(batch)
            batch = _pending(MAX_CODES_PER_CALL)
    except ProviderError as error:
        summary.error = f"Could not create discount codes: {explain(error)}"
        if not error.transient and batch:
            _fail(batch, summary.error, summary)
        log.warning("unique codes: %s", summary.error)
    _record(summary, started)
    return summary
