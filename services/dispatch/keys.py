"""Idempotency keys: one per message, stable across scans, retries and integrations.

A customer's due cycle is anchored on their latest purchase of anything we track: the newest
`last_purchased_at` among all their `due_item` rows. Recompute rewrites those rows after every
sync and every night, but it only moves `last_purchased_at` when they buy again (or an order is
cancelled), so the anchor is stable while nothing happens and new after a reorder; due and late
*dates* are not used because relearned intervals shift them. The key is
``f"{kind}-{customer_id}-{anchor:%Y%m%d%H%M%S}"`` (e.g. ``due-42-20261001093000``, at most ~40
characters), the same for every integration and every retry; it is Klaviyo's `unique_id`,
Postscript's `external_id` and Attentive's `externalEventId`, and unique per integration in the
outbox. Cart-link rows use ``f"cart_url-{customer_id}-{link_id}"``, so a rotated link (a new
`cart_link` row) is a new message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from services.dispatch.outbox import CART_URL


def stamp(anchor: datetime) -> str:
    """The anchor as it appears in a key, to the second (delivery compares cycles by it)."""
    a = anchor if anchor.tzinfo is UTC else anchor.astimezone(UTC)
    # by hand: strftime cost a tenth of a large scan
    return f"{a.year:04d}{a.month:02d}{a.day:02d}{a.hour:02d}{a.minute:02d}{a.second:02d}"


def cycle_key(kind: str, customer_id: int, anchor: datetime) -> str:
    """The idempotency key of a customer's Due or Late event for the cycle that began at
    `anchor` (their latest purchase); see the module docstring."""
    return f"{kind}-{customer_id}-{stamp(anchor)}"


def cart_url_key(customer_id: int, link_id: int) -> str:
    """One profile update per cart link: a rotated link is a new link row, hence a new key."""
    return f"{CART_URL}-{customer_id}-{link_id}"


def key_fingerprint(api_key: str) -> str:
    """Which key was refused, without storing the key: the first 12 hex of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]
