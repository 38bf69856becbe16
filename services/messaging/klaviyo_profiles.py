"""Klaviyo profile properties, in bulk: what a profile says, its fingerprint, and import jobs.

Repeat's flows and segments read these profile properties: `Repeat Cart URL`, `Repeat - Due To
Replenish` (true/false), `Repeat - Due To Replenish Products` (JSON text) and, in a shop that
sells subscriptions, `Subscription Repeat Cart URL` (empty when the cart has no product with a
selling plan). Many profiles go
at once through `POST /api/profile-bulk-import-jobs`, which takes at most 10,000 profiles and
5 MB per job; `split_jobs` packs profiles into jobs under both limits, measuring each one in the
exact bytes the client sends. The fingerprint of a profile covers its identifiers and its
properties, so a profile is sent again exactly when what it would say changes.

Pure functions over plain records: no session, no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from services.messaging.base import Recipient
from services.messaging.payloads import (
    CART_URL_PROPERTY,
    SUBSCRIPTION_CART_URL_PROPERTY,
    klaviyo_identifiers,
    price_string,
)

__all__ = [
    "DUE_PRODUCTS_PROPERTY",
    "DUE_PROPERTY",
    "MAX_JOB_BYTES",
    "MAX_JOB_PROFILES",
    "MAX_PROFILE_BYTES",
    "ProfileProduct",
    "ProfileState",
    "bulk_import_body",
    "encoded",
    "fingerprint",
    "profile_fits",
    "profile_entry",
    "profile_properties",
    "split_jobs",
]

DUE_PROPERTY = "Repeat - Due To Replenish"
DUE_PRODUCTS_PROPERTY = "Repeat - Due To Replenish Products"
MAX_JOB_PROFILES = 10_000
MAX_JOB_BYTES = 5_000_000
"""Klaviyo's "5 MB" per job, read as the smaller of 5,000,000 and 5 × 2²⁰ bytes."""
MAX_PROFILE_BYTES = 100_000
"""Klaviyo's "100 KB" per profile, read the same way."""

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class ProfileProduct:
    """One product the customer is due to reorder, as the profile lists it."""

    title: str
    variant: str
    quantity: int
    image_url: str | None
    price_cents: int


@dataclass(frozen=True, slots=True)
class ProfileState:
    """What one customer's profile should say now. `cart_url` is None when they have no live
    cart link (the property is then left as it is: bulk imports cannot clear a field)."""

    recipient: Recipient
    cart_url: str | None
    products: tuple[ProfileProduct, ...]
    # the subscription cart's link; "" empties the property (no product with a plan in the cart)
    # and None leaves it out (the shop sells no subscriptions, or there is no cart link)
    subscription_url: str | None = None

    @property
    def due(self) -> bool:
        return bool(self.products)


def encoded(value: Any) -> bytes:
    """The JSON bytes as the client sends them (compact, ASCII)."""
    return json.dumps(value, separators=(",", ":")).encode()


def _products_text(products: Sequence[ProfileProduct]) -> str:
    return json.dumps(
        [
            {
                "title": product.title,
                "variant": product.variant,
                "quantity": product.quantity,
                "image_url": product.image_url,
                "price": price_string(product.price_cents),
            }
            for product in products
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )


def profile_properties(state: ProfileState) -> dict[str, Any]:
    """The Repeat-compatible profile properties; not due is `false` with an empty list `[]`."""
    properties: dict[str, Any] = {
        DUE_PROPERTY: state.due,
        DUE_PRODUCTS_PROPERTY: _products_text(state.products),
    }
    if state.cart_url:
        properties[CART_URL_PROPERTY] = state.cart_url
    if state.subscription_url is not None:
        properties[SUBSCRIPTION_CART_URL_PROPERTY] = state.subscription_url
    return properties


def profile_entry(state: ProfileState) -> dict[str, Any] | None:
    """One `profile` resource of a bulk import job; None when it has no identifier Klaviyo
    takes."""
    identifiers = klaviyo_identifiers(state.recipient)
    if not identifiers:
        return None
    return {
        "type": "profile",
        "attributes": {**identifiers, "properties": profile_properties(state)},
    }


def fingerprint(entry: dict[str, Any]) -> str:
    """A stable hash of what the profile says (identifiers and properties)."""
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def bulk_import_body(entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`POST /api/profile-bulk-import-jobs`: a JSON:API `profile-bulk-import-job`."""
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": list(entries)}},
        }
    }


_ENVELOPE_BYTES = len(encoded(bulk_import_body([])))


def profile_fits(entry: dict[str, Any]) -> bool:
    """Whether a profile is within Klaviyo's size for one profile (a customer due for hundreds
    of products may not be): Klaviyo refuses a job holding one that is over, so the caller sets
    it aside instead of sending it."""
    return len(encoded(entry)) <= MAX_PROFILE_BYTES


def split_jobs(
    items: Iterable[tuple[K, dict[str, Any]]],
    *,
    max_profiles: int = MAX_JOB_PROFILES,
    max_bytes: int = MAX_JOB_BYTES,
) -> Iterator[list[tuple[K, dict[str, Any]]]]:
    """Pack (key, profile entry) pairs, in order, into jobs of at most `max_profiles` profiles
    whose encoded body is at most `max_bytes`. Lazy: one job is held in memory at a time.

    A profile too large to fit even alone in a job raises ValueError: Klaviyo would refuse
    the job, and with it every other profile in it.
    """
    job: list[tuple[K, dict[str, Any]]] = []
    size = _ENVELOPE_BYTES
    for key, entry in items:
        length = len(encoded(entry))
        if _ENVELOPE_BYTES + length > max_bytes:
            raise ValueError(f"one profile alone is {length} bytes, over a job's {max_bytes}")
        extra = length + (1 if job else 0)  # the comma between two profiles
        if job and (len(job) >= max_profiles or size + extra > max_bytes):
            yield job
            job, size, extra = [], _ENVELOPE_BYTES, length
        job.append((key, entry))
        size += extra
    if job:
        yield job
