"""Reads a cart permalink back into its parts, for the local checkout preview page.

The page is public and takes any permalink, so it exists only while the preview is on (the
demo shop, or `REPEATCART_CHECKOUT_PREVIEW=1`), names only products on sale (a draft or
archived product's title stays unknown), and reads at most `MAX_LINES` lines: a crafted URL
cannot make it look up a whole catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from sqlmodel import Session, col, select

from services.core.config import Settings
from services.core.db import session_scope
from services.core.tables import PRODUCT_SOLD_STATUS, Product, Variant
from services.sync.shop_record import checkout_preview_on, stored_shop

__all__ = [
    "MAX_LINES",
    "DescribedPermalink",
    "PermalinkRefused",
    "PreviewOff",
    "describe_permalink",
    "read_permalink",
    "preview_available",
]

MAX_LINES = 100
"""More lines than any cart holds; a permalink with more is refused before any lookup."""
MAX_PERMALINK_CHARS = 8000
"""Far above what `MAX_LINES` lines and the cart's attributes take."""
UNKNOWN_ITEM = "Unknown item"
_LINE = re.compile(r"(\d{1,20}):(\d{1,3})")
_ATTRIBUTE = re.compile(r"attributes\[(.+)\]")


class PreviewOff(Exception):
    """The checkout preview is off for the stored shop: the page does not exist."""


class PermalinkRefused(ValueError):
    """A permalink the preview does not show; the message says why, for the visitor."""


@dataclass(frozen=True, slots=True)
class DescribedPermalink:
    lines: list[tuple[int, str, int]]  # (Shopify variant id, product — variant title, quantity)
    discount_code: str
    attributes: dict[str, str]


def preview_available(session: Session, settings: Settings | None = None) -> bool:
    """Whether `/checkout-preview` exists: for the stored shop's domain (or an explicit setting)."""
    shop = stored_shop(session)
    return checkout_preview_on(shop.shop_domain if shop else "", settings)


def describe_permalink(
    session: Session, permalink: str, settings: Settings | None = None
) -> DescribedPermalink:
    """The permalink's lines (named when their product is active), discount and attributes.

    Raises `PreviewOff` before reading anything when the preview is off, and `PermalinkRefused`
    for a malformed permalink or one with more than `MAX_LINES` lines.
    """
    if not preview_available(session, settings):
        raise PreviewOff("the checkout preview is off")
    if len(permalink) > MAX_PERMALINK_CHARS:
        raise PermalinkRefused("This permalink is too long to preview.")
    parts = urlsplit(permalink)
    if parts.scheme != "https" or not parts.path.startswith("/cart/"):
        raise PermalinkRefused("This is not a valid cart permalink.")
    chunks = parts.path.removeprefix("/cart/").split(",")
    if len(chunks) > MAX_LINES:
        raise PermalinkRefused(
            f"This cart has {len(chunks)} lines; the preview shows carts of at most {MAX_LINES}."
        )
    matches = [_LINE.fullmatch(chunk) for chunk in chunks]
    pairs = [(int(m.group(1)), int(m.group(2))) for m in matches if m is not None]
    if len(pairs) != len(chunks):
        raise PermalinkRefused("This is not a valid cart permalink.")
    names = {
        shopify_id: product if title in ("", "Default Title") else f"{product} — {title}"
        for shopify_id, title, product in session.exec(
            select(Variant.shopify_id, Variant.title, Product.title)
            .join(Product, col(Product.id) == col(Variant.product_id))
            .where(
                col(Variant.shopify_id).in_({variant for variant, _ in pairs}),
                Product.status == PRODUCT_SOLD_STATUS,
            )
        )
    }
    lines = [(variant, names.get(variant, UNKNOWN_ITEM), quantity) for variant, quantity in pairs]
    query = parse_qsl(parts.query)
    attributes = {
        match.group(1): value
        for key, value in query
        if (match := _ATTRIBUTE.fullmatch(key)) is not None
    }
    discount = next((value for key, value in query if key == "discount"), "")
    return DescribedPermalink(lines, discount, attributes)


def read_permalink(permalink: str) -> DescribedPermalink:
    """`describe_permalink` in a transaction of its own, for the preview page."""
    with session_scope() as session:
        return describe_permalink(session, permalink)
