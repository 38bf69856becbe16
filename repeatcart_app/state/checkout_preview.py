"""The local stand-in for Shopify checkout, used by the demo shop (which does not exist)."""

import asyncio
import dataclasses

import reflex as rx

from services.cart.checkout_preview import PermalinkRefused, PreviewOff, read_permalink


@dataclasses.dataclass
class PreviewLine:
    variant_id: str = ""
    title: str = ""
    quantity: int = 0


@dataclasses.dataclass(frozen=True)
class PreviewView:
    """What the page shows: `status` is off (the page does not exist), refused, or ok."""

    status: str
    permalink: str = ""
    lines: tuple[PreviewLine, ...] = ()
    discount_code: str = ""
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)
    problem: str = ""


def preview_view(permalink: str) -> PreviewView:
    """The page's view of `permalink`: nothing of it, not even the link, when preview is off."""
    try:
        described = read_permalink(permalink)
    except PreviewOff:
        return PreviewView("off")
    except PermalinkRefused as refusal:
        return PreviewView("refused", problem=str(refusal))
    return PreviewView(
        "ok",
        permalink=permalink,
        lines=tuple(PreviewLine(str(v), t, q) for v, t, q in described.lines),
        discount_code=described.discount_code,
        attributes=described.attributes,
    )


class CheckoutPreviewState(rx.State):
    status: str = "loading"  # loading | off | refused | ok
    permalink: str = ""
    lines: list[PreviewLine] = []
    discount_code: str = ""
    attributes: dict[str, str] = {}
    problem: str = ""

    @rx.event
    async def load(self):
        permalink = self.router.url.query_parameters.get("permalink", "")
        view = await asyncio.to_thread(preview_view, permalink)
        self.status = view.status
        self.permalink = view.permalink
        self.lines = list(view.lines)
        self.discount_code = view.discount_code
        self.attributes = view.attributes
        self.problem = view.problem
