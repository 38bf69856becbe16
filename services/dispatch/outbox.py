"""The outbox's vocabulary: a row's statuses and kinds, and why a message was skipped.

Every module of the dispatcher writes and reads `outbox_message` rows in these terms; the
dashboard reads them back (the delivery log, the counts).
"""

from __future__ import annotations

from sqlalchemy import Table

from services.core.tables import OutboxMessage
from services.messaging import EventKind

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SKIPPED = "skipped"

DUE_KINDS: tuple[EventKind, ...] = ("due", "late")  # one due cycle's events
LAPSE: EventKind = "lapse"  # About To Lapse: one per lapse cycle (see `lapse`)
CROSS_SELL: EventKind = "cross_sell"  # Primed For Cross-sell: one per order (see `cross_sell`)
# Primed For Subscription: one per order completing a steady run (see `subscription`)
SUBSCRIPTION: EventKind = "subscription"
EVENT_KINDS: tuple[EventKind, ...] = (*DUE_KINDS, LAPSE, CROSS_SELL, SUBSCRIPTION)
CART_URL = "cart_url"  # a profile update: the customer's current cart link

NO_IDENTIFIER = "no email or phone it accepts"
REORDERED = "reordered"
NO_LONGER_DUE = "no longer due"
LINK_ROTATED = "link rotated"
CUSTOMER_GONE = "customer erased"
SNOOZED = "snoozed"
NOTHING_AVAILABLE = "nothing available"
SWITCHED_OFF = "Moment switched off"
BOUGHT_IT = "bought the product"
NO_OFFER = "no cross-sell product"
SUBSCRIBED = "subscribed already"

# the table itself, for Core statements (SQLModel declares no typed `__table__`)
OUTBOX: Table = OutboxMessage.metadata.tables["outbox_message"]
