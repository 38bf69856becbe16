"""Featured product links on the Products page: each variant's link, and its QR code to print.

The links are built here, on the server, from the store's public address and the catalog; the
browser only names a variant, so a download can never carry an address the shop did not make.
QR codes come from `segno` (pure Python, no image library), error correction M: printed on a
label a code still scans with some of it scuffed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

import segno
from sqlmodel import col, select

from services.cart.featured import FeaturedLink, featured_url
from services.core.db import session_scope
from services.core.tables import PRODUCT_SOLD_STATUS, Product, Variant
from services.settings.effective import effective_settings

QR_CHANNEL = "qr"
"""The `ch=` of links copied or printed from the dashboard, so Analytics shows what they bring."""
QrKind = Literal["svg", "png"]
QR_SCALE = 10  # pixels per module: about 3 cm at 300 dpi for a short link
QR_MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}


@dataclass(frozen=True, slots=True)
class QrFile:
    filename: str
    media_type: str
    data: bytes


def variant_links(product_id: int, channel: str | None = None) -> list[FeaturedLink]:
    """A product's variants with their featured links; none unless it is for sale."""
    with session_scope() as session:
        public_url = effective_settings(session).public_url
        rows = session.exec(
            select(Product.title, Variant.title, Variant.sku, Variant.shopify_id)
            .join(Product, col(Product.id) == col(Variant.product_id))
            .where(
                col(Product.id) == product_id,
                col(Product.status) == PRODUCT_SOLD_STATUS,
                col(Variant.shopify_id) > 0,  # not a placeholder from an order export
            )
            .order_by(col(Variant.position), col(Variant.id))
        ).all()
    return [
        FeaturedLink(
            product, variant, sku or "", shopify_id, featured_url(public_url, shopify_id, channel)
        )
        for product, variant, sku, shopify_id in rows
    ]


def qr_image(url: str, kind: QrKind) -> bytes:
    """The QR code of `url` as an SVG or PNG file's bytes (dark on white, a 4-module margin)."""
    buffer = io.BytesIO()
    code = segno.make(url, error="m", micro=False)
    if kind == "svg":
        code.save(buffer, kind="svg", scale=QR_SCALE, border=4, xmldecl=True, title=url)
    else:
        code.save(buffer, kind="png", scale=QR_SCALE, border=4)
    return buffer.getvalue()


def variant_qr(product_id: int, shopify_variant_id: int, kind: QrKind) -> QrFile | None:
    """The QR file of one variant's featured link (channel `qr`); None when the product is not
    for sale or has no such variant."""
    if kind not in QR_MEDIA_TYPES:
        return None
    links = variant_links(product_id, QR_CHANNEL)
    link = next((x for x in links if x.shopify_variant_id == shopify_variant_id), None)
    if link is None:
        return None
    data = qr_image(link.url, kind)
    return QrFile(f"qr-{shopify_variant_id}.{kind}", QR_MEDIA_TYPES[kind], data)
