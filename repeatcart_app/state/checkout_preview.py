"""The local stand-in for Shopify checkout, used by the demo shop (which does not exist)."""

import dataclasses

import reflex as rx

from services.checkout_preview import describe_permalink
from services.db import session_scope


@dataclasses.dataclass
class PreviewLine:
    variant_id: str = ""
    title: str = ""
    quantity: int = 0


class CheckoutPreviewState(rx.State):
    permalink: str = ""
    lines: list[PreviewLine] = []
    discount_code: str = ""
    attributes: dict[str, str] = {}
    valid: bool = False

    @rx.event
    def load(self):
        self.permalink = self.router.url.query_parameters.get("permalink", "")
        with session_scope() as session:
            described = describe_permalink(session, self.permalink)
        self.valid = described is not None
        if described is None:
            self.lines, self.discount_code, self.attributes = [], "", {}
            return
        self.lines = [PreviewLine(str(v), t, q) for v, t, q in described.lines]
        self.discount_code = described.discount_code
        self.attributes = described.attributes
