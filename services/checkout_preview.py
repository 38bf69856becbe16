"""Reads a cart permalink back into its parts, for the local checkout preview page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from sqlmodel import Session, select

from services.models import Product, Variant

_LINE = re.compile(r"(\d{1,20}):(\d{1,3})")
_ATTRIBUTE = re.compile(r"attributes\[(.+)\]")


@dataclass(frozen=True, slots=True)
class DescribedPermalink:
    lines: list[tuple[int, str, int]]  # (Shopify variant id, product — variant title, quantity)
    discount_code: str
    attributes: dict[str, str]


def describe_permalink(session: Session, permalink: str) -> DescribedPermalink | None:
    parts = urlsplit(permalink)
    if parts.scheme != "https" or not parts.path.startswith("/cart/"):
        return None
    pairs = [_LINE.fullmatch(chunk) for chunk in parts.path.removeprefix("/cart/").split(",")]
    if not pairs or any(match is None for match in pairs):
        return None
    ids = [int(match.group(1)) for match in pairs]  # type: ignore[union-attr]
    names = {
        shopify_id: product if title in ("", "Default Title") else f"{product} — {title}"
        for shopify_id, title, product in session.exec(
            select(Variant.shopify_id, Variant.title, Product.title)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.shopify_id.in_(ids))  # type: ignore[attr-defined]
        )
    }
    lines = [
        (int(m.group(1)), names.get(int(m.group(1)), "Unknown item"), int(m.group(2)))  # type: ignore[union-attr]
        for m in pairs
    ]
    query = parse_qsl(parts.query)
    attributes = {
        match.group(1): value
        for key, value in query
        if (match := _ATTRIBUTE.fullmatch(key)) is not None
    }
    discount = next((value for key, value in query if key == "discount"), "")
    return DescribedPermalink(lines, discount, attributes)
