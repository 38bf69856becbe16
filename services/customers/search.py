"""Finding customers, the one way the Customers page and the Cart page's preview picker do it:
an email fragment, a first, last or full name (ignoring case), or a phone number in any layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, literal, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.core.db import session_scope
from services.core.search import contains
from services.core.tables import Customer
from services.messaging.phone import to_e164

MAX_QUERY_LENGTH = 100
PICKER_LIMIT = 10
_MIN_PHONE_DIGITS = 3
_PHONE_TEXT = re.compile(r"[\d\s().+\-/]+")


@dataclass(frozen=True, slots=True)
class CustomerHit:
    """A customer as a picker lists it."""

    customer_id: int
    name: str
    email: str


def normalize_query(query: str | None) -> str:
    """Whitespace collapsed and cut to a sane length: a search box is not a place for essays."""
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


def phone_digits(query: str) -> str | None:
    """The digits of what looks like a phone number ("(415) 555-0142" → "4155550142"), else None.

    Stored phones are E.164 ("+14155550142"), so the digits the merchant typed, in any layout,
    are looked for inside them. A national trunk prefix ("07911 123456" in the UK) is dropped,
    since E.164 leaves it out.
    """
    if not _PHONE_TEXT.fullmatch(query):
        return None
    digits = re.sub(r"\D", "", query).lstrip("0")
    return digits if len(digits) >= _MIN_PHONE_DIGITS else None


def search_filter(query: str | None) -> ColumnElement[bool] | None:
    """Email fragment, first/last/full name (case-insensitive), or phone digits in any layout;
    None when there is nothing to search for."""
    query = normalize_query(query)
    if not query:
        return None
    clauses: list[ColumnElement[bool]] = [
        contains(col(Customer.email), query),
        contains(col(Customer.first_name), query),
        contains(col(Customer.last_name), query),
    ]
    if " " in query:
        full_name = col(Customer.first_name) + literal(" ") + col(Customer.last_name)
        clauses.append(contains(full_name, query))
    digits = phone_digits(query)
    if digits is not None:
        e164 = to_e164(query)
        if e164 is not None:
            clauses.append(col(Customer.phone) == e164)
        clauses.append(col(Customer.phone).like(f"%{digits}%"))  # digits only: no wildcard
    return or_(*clauses)


def name_order() -> list[Any]:
    """A to Z by last name, then first name, then email; customers without a name last."""
    no_name = and_(col(Customer.first_name) == "", col(Customer.last_name) == "")
    return [
        case((no_name, 1), else_=0),
        func.lower(Customer.last_name),
        func.lower(Customer.first_name),
        func.lower(func.coalesce(Customer.email, "")),
        col(Customer.id),
    ]


def search_customers(
    session: Session, query: str | None, limit: int = PICKER_LIMIT
) -> list[CustomerHit]:
    """The first `limit` customers matching `query`, by name; none for an empty query."""
    condition = search_filter(query)
    if condition is None:
        return []
    rows = session.exec(
        select(Customer.id, Customer.first_name, Customer.last_name, Customer.email)
        .where(condition)
        .order_by(*name_order())
        .limit(limit)
    ).all()
    return [
        CustomerHit(customer_id or 0, f"{first} {last}".strip() or "(no name)", email or "")
        for customer_id, first, last, email in rows
    ]


def find_customers(query: str | None, limit: int = PICKER_LIMIT) -> list[CustomerHit]:
    """`search_customers` in a transaction of its own, for a dashboard picker."""
    with session_scope() as session:
        return search_customers(session, query, limit)
