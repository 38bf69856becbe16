"""The merchant's cart settings: validated as a whole, saved only when every field is right.

The cart page reads these from the database on every load, so a saved banner, discount, colour
or YMAL list shows on the next cart load. The reminder timing (lead days, default interval,
minimum reorder customers) feeds the due-date engine: changing it means every due row must be
re-dated, which `recompute_due_dates` does with the nightly job's own code and lease. The
About To Lapse factor (`lapse_factor`) is kept as an `AppSetting` over
`REPEATCART_LAPSE_FACTOR`; the recompute stores each customer's lapse point with it, so changing
it re-dates every customer too. The minimum checkout quantity is an `AppSetting` over
`REPEATCART_MIN_CHECKOUT_QUANTITY` in the same way; the cart page reads it on every load.
"""

from __future__ import annotations

import math
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from sqlmodel import Session, col, select

from services.cart.links import get_or_create_link, preview_url
from services.core.clock import utcnow
from services.core.config import parse_flag
from services.core.db import session_scope
from services.core.leases import lease
from services.core.tables import PRODUCT_SOLD_STATUS, Customer, Product, Shop, YmalItem
from services.engine.recompute import recompute_store
from services.products.search import ProductHit, products_in_order, search_products
from services.settings.effective import effective_settings, save_settings
from services.settings.unique_codes import UNIQUE_FIELDS, clean_unique_fields

ACCENT_COLORS: tuple[str, ...] = (
    "tomato",
    "red",
    "ruby",
    "crimson",
    "pink",
    "plum",
    "purple",
    "violet",
    "iris",
    "indigo",
    "blue",
    "cyan",
    "teal",
    "jade",
    "green",
    "grass",
    "brown",
    "orange",
    "sky",
    "mint",
    "lime",
    "yellow",
    "amber",
    "gold",
    "bronze",
    "gray",
)
"""Radix Themes accent colours: the cart page passes `Shop.accent_color` to its theme, which
accepts only these names."""

BANNER_MAX = 200
DISCOUNT_MAX = 255  # Shopify's own limit for a code
LOGO_URL_MAX = 2048
LEAD_DAYS_RANGE = (0, 60)
DEFAULT_INTERVAL_RANGE = (1.0, 365.0)
MIN_REORDER_RANGE = (1, 1000)
LAPSE_FACTOR_RANGE = (1.0, 10.0)  # as `Settings.lapse_factor` allows
CROSS_SELL_DAYS_RANGE = (1, 90)  # as `Settings.cross_sell_days` allows
CROSS_SELL_SUPPORT_RANGE = (1, 10000)  # as `Settings.cross_sell_min_support` allows
MIN_CHECKOUT_RANGE = (0, 999)  # as `Settings.min_checkout_quantity` allows; 0 is no minimum
YMAL_MAX = 12
SEARCH_LIMIT = 20

TIMING_FIELDS = ("lead_days", "default_interval_days", "min_reorder_customers")
# stored as app settings, not on the shop row
MOMENT_FIELDS = ("lapse_factor", "cross_sell_days", "cross_sell_min_support")
CHECKOUT_FIELDS = ("min_checkout_quantity",)  # an app setting too
APP_SETTING_FIELDS = (*MOMENT_FIELDS, *CHECKOUT_FIELDS, *UNIQUE_FIELDS)
FIELDS = (
    "banner_text",
    "discount_code",
    *CHECKOUT_FIELDS,
    *TIMING_FIELDS,
    "hide_unavailable",
    "accent_color",
    "logo_url",
    *MOMENT_FIELDS,
    *UNIQUE_FIELDS,
)

RECOMPUTE_LEASE = "nightly-recompute"
"""The nightly job's lease name: a recompute started here and the nightly one never overlap."""


@dataclass(frozen=True, slots=True)
class CartSettings:
    banner_text: str
    discount_code: str
    lead_days: int
    default_interval_days: float
    min_reorder_customers: int
    hide_unavailable: bool
    accent_color: str
    logo_url: str
    lapse_factor: float
    cross_sell_days: int
    cross_sell_min_support: int
    min_checkout_quantity: int = 0
    unique_codes: bool = False
    unique_code_kind: str = "percentage"
    unique_code_value: int = 10  # percent, or cents for a fixed amount
    unique_code_prefix: str = ""
    unique_code_days: int = 14


@dataclass(slots=True)
class SaveResult:
    """Per-field messages when anything was wrong (then nothing was saved)."""

    errors: dict[str, str] = field(default_factory=dict)
    saved: bool = False
    timing_changed: bool = False
    stored: CartSettings | None = None
    """Every setting as saved (trimmed, rounded), when `update_cart_settings` saved."""


def _shop(session: Session) -> Shop | None:
    return session.exec(select(Shop).order_by(col(Shop.id))).first()


def load_cart_settings(session: Session) -> CartSettings:
    shop = _shop(session) or Shop(shop_domain="")
    effective = effective_settings(session)
    return CartSettings(
        banner_text=shop.banner_text,
        discount_code=shop.discount_code,
        lead_days=shop.lead_days,
        default_interval_days=shop.default_interval_days,
        min_reorder_customers=shop.min_reorder_customers,
        hide_unavailable=shop.hide_unavailable,
        accent_color=shop.accent_color if shop.accent_color in ACCENT_COLORS else "grass",
        logo_url=shop.logo_url,
        lapse_factor=effective.lapse_factor,
        cross_sell_days=effective.cross_sell_days,
        cross_sell_min_support=effective.cross_sell_min_support,
        min_checkout_quantity=effective.min_checkout_quantity,
        unique_codes=effective.unique_codes,
        unique_code_kind=effective.unique_code_kind,
        unique_code_value=effective.unique_code_value,
        unique_code_prefix=effective.unique_code_prefix,
        unique_code_days=effective.unique_code_days,
    )


def _has_control(text: str) -> bool:
    """Control and invisible format characters (NUL, newlines, zero-width, bidi overrides)."""
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def _has_space(text: str) -> bool:
    return any(char.isspace() or unicodedata.category(char) == "Zs" for char in text)


def clean_banner(raw: object) -> tuple[str, str | None]:
    """Banner text is shown as plain text (never markup); one calm line."""
    text = str(raw if raw is not None else "").strip()
    if _has_control(text):
        return text, "Use plain text on one line (no control characters)."
    if len(text) > BANNER_MAX:
        return text, f"Keep the banner to {BANNER_MAX} characters ({len(text):,} now)."
    return text, None


def clean_discount_code(raw: object) -> tuple[str, str | None]:
    """A Shopify discount code as typed; unicode letters are fine (the checkout link percent-
    encodes them), but spaces and control characters would make a code no shopper can match.
    Surrounding spaces from a paste are trimmed."""
    code = str(raw if raw is not None else "").strip()
    if _has_control(code):
        return code, "The code contains control or invisible characters: retype it."
    if _has_space(code):
        return code, "Discount codes can't contain spaces."
    if len(code) > DISCOUNT_MAX:
        return code, f"Discount codes are at most {DISCOUNT_MAX} characters."
    return code, None


def _number(raw: object, label: str, low: float, high: float, whole: bool) -> tuple[float, str]:
    text = str(raw if raw is not None else "").strip()
    kind = "a whole number" if whole else "a number"
    message = f"{label} must be {kind} from {low:,g} to {high:,g}."
    if not text:
        return 0, message
    try:
        value = float(text) if not whole else int(text)
    except ValueError:
        return 0, message
    if not math.isfinite(value) or value < low or value > high:
        return 0, message
    return value, ""


def clean_lead_days(raw: object) -> tuple[int, str | None]:
    value, error = _number(raw, "Lead days", *LEAD_DAYS_RANGE, whole=True)
    return int(value), error or None


def clean_default_interval(raw: object) -> tuple[float, str | None]:
    value, error = _number(raw, "Default interval", *DEFAULT_INTERVAL_RANGE, whole=False)
    return round(float(value), 1), error or None


def clean_min_reorder(raw: object) -> tuple[int, str | None]:
    value, error = _number(raw, "Minimum reorder customers", *MIN_REORDER_RANGE, whole=True)
    return int(value), error or None


def clean_lapse_factor(raw: object) -> tuple[float, str | None]:
    value, error = _number(raw, "The lapse factor", *LAPSE_FACTOR_RANGE, whole=False)
    return round(float(value), 2), error or None


def clean_cross_sell_days(raw: object) -> tuple[int, str | None]:
    value, error = _number(raw, "Cross-sell days", *CROSS_SELL_DAYS_RANGE, whole=True)
    return int(value), error or None


def clean_cross_sell_support(raw: object) -> tuple[int, str | None]:
    value, error = _number(raw, "Minimum support", *CROSS_SELL_SUPPORT_RANGE, whole=True)
    return int(value), error or None


def clean_min_checkout(raw: object) -> tuple[int, str | None]:
    """Blank means no minimum (0), like an unset environment variable."""
    if not str(raw if raw is not None else "").strip():
        return 0, None
    value, error = _number(raw, "The minimum checkout quantity", *MIN_CHECKOUT_RANGE, whole=True)
    return int(value), error or None


def clean_accent(raw: object) -> tuple[str, str | None]:
    name = str(raw if raw is not None else "").strip().lower()
    if name not in ACCENT_COLORS:
        return name, "Pick one of the listed colours."
    return name, None


def clean_logo_url(raw: object) -> tuple[str, str | None]:
    """Empty, or an absolute http(s) address: anything else (javascript:, data:) is refused."""
    url = str(raw if raw is not None else "").strip()
    if not url:
        return "", None
    message = "Use a full web address starting with https:// (or http://)."
    if len(url) > LOGO_URL_MAX or _has_control(url) or _has_space(url):
        return url, message
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, message
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url, message
    return url, None


_CLEANERS = {
    "banner_text": clean_banner,
    "discount_code": clean_discount_code,
    "lead_days": clean_lead_days,
    "default_interval_days": clean_default_interval,
    "min_reorder_customers": clean_min_reorder,
    "accent_color": clean_accent,
    "logo_url": clean_logo_url,
    "lapse_factor": clean_lapse_factor,
    "cross_sell_days": clean_cross_sell_days,
    "cross_sell_min_support": clean_cross_sell_support,
    "min_checkout_quantity": clean_min_checkout,
}


def save_cart_settings(session: Session, values: Mapping[str, object]) -> SaveResult:
    """Validate the given fields (a section's or the whole form's) and save them all or none.

    `timing_changed` says whether due dates now need recomputing.
    """
    result = SaveResult()
    saved = effective_settings(session)
    cleaned, result.errors = clean_unique_fields(values, saved.unique_code_kind)
    for name, raw in values.items():
        if name not in FIELDS or name in UNIQUE_FIELDS:
            continue
        if name == "hide_unavailable":
            cleaned[name] = parse_flag(raw)
            continue
        value, error = _CLEANERS[name](raw)
        if error:
            result.errors[name] = error
        else:
            cleaned[name] = value
    shop = _shop(session)
    if shop is None:
        result.errors["form"] = "There is no store yet: set it up on the Store page first."
    if result.errors or shop is None:
        return result
    # the lapse factor moves lapse points and the minimum support the learned pairs: both are
    # the store-wide recompute's to redo; the cross-sell days are read by each scan
    result.timing_changed = any(
        name in cleaned and cleaned[name] != getattr(shop, name) for name in TIMING_FIELDS
    ) or any(
        name in cleaned and cleaned[name] != getattr(saved, name)
        for name in ("lapse_factor", "cross_sell_min_support")
    )
    for name, value in cleaned.items():
        if name in APP_SETTING_FIELDS:
            stored = value if isinstance(value, str | bool) else f"{value:g}"
            save_settings(session, {name: stored})
        else:
            setattr(shop, name, value)
    shop.updated_at = utcnow()
    session.add(shop)
    session.flush()
    result.saved = True
    return result


def update_cart_settings(values: Mapping[str, object]) -> SaveResult:
    """`save_cart_settings` in a transaction of its own, with what was stored to show back."""
    with session_scope() as session:
        result = save_cart_settings(session, values)
        if result.saved:
            result.stored = load_cart_settings(session)
        return result


@dataclass(frozen=True, slots=True)
class RecomputeOutcome:
    ran: bool
    customers: int = 0
    due_rows: int = 0
    seconds: float = 0.0


def recompute_due_dates(wait_seconds: float = 120.0) -> RecomputeOutcome:
    """Re-date every customer's due rows with the saved timing (the nightly recompute's code),
    under the nightly job's lease so the two never write due rows at the same time.

    When the nightly job holds the lease, waits for it (it may have read the old settings).
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        with lease(RECOMPUTE_LEASE, timedelta(minutes=30)) as held:
            if held:
                started = time.perf_counter()
                summary = recompute_store(utcnow())  # in chunks: shoppers write meanwhile
                return RecomputeOutcome(
                    True, summary.customers, summary.due_rows, time.perf_counter() - started
                )
        if time.monotonic() >= deadline:
            return RecomputeOutcome(False)
        time.sleep(2)


# --- You Might Also Like ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class YmalHit:
    """A product in the YMAL list or in the picker's search results."""

    product_id: int
    title: str
    handle: str
    sku: str
    image_url: str
    sold: bool
    in_ymal: bool


def _ymal_hit(hit: ProductHit, in_ymal: bool) -> YmalHit:
    return YmalHit(hit.product_id, hit.title, hit.handle, hit.sku, hit.image_url, hit.sold, in_ymal)


def _ymal_ids(session: Session) -> list[int]:
    return list(
        session.exec(select(YmalItem.product_id).order_by(col(YmalItem.position), col(YmalItem.id)))
    )


def search_catalog(session: Session, query: str, limit: int = SEARCH_LIMIT) -> list[YmalHit]:
    """Sold products whose title, handle or a variant's SKU contains `query` (case-insensitive)."""
    listed = set(_ymal_ids(session))
    hits = search_products(session, query, sold_only=True, limit=limit)
    return [_ymal_hit(hit, hit.product_id in listed) for hit in hits]


def current_ymal(session: Session) -> list[YmalHit]:
    """The YMAL list in cart order; a product no longer sold stays listed (the cart skips it)."""
    return [_ymal_hit(hit, True) for hit in products_in_order(session, _ymal_ids(session))]


def _items(session: Session) -> list[YmalItem]:
    return list(session.exec(select(YmalItem).order_by(col(YmalItem.position), col(YmalItem.id))))


def _renumber(session: Session, items: list[YmalItem]) -> None:
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            session.add(item)
    session.flush()


def add_ymal(session: Session, product_id: int) -> str | None:
    """Append a sold product to the list; returns why not, or None."""
    product = session.get(Product, product_id)
    if product is None or product.status != PRODUCT_SOLD_STATUS:
        return "That product is not for sale, so it can't be suggested."
    items = _items(session)
    if any(item.product_id == product_id for item in items):
        return f"{product.title} is already in the list."
    if len(items) >= YMAL_MAX:
        return f"The list holds up to {YMAL_MAX} products: remove one first."
    items.append(YmalItem(product_id=product_id, position=len(items)))
    session.add(items[-1])
    _renumber(session, items)
    return None


def remove_ymal(session: Session, product_id: int) -> None:
    items = _items(session)
    for item in items:
        if item.product_id == product_id:
            session.delete(item)
    session.flush()
    _renumber(session, [item for item in items if item.product_id != product_id])


def move_ymal(session: Session, product_id: int, offset: int) -> None:
    """Move a product up (-1) or down (+1) in the list; the cart shows it in this order."""
    items = _items(session)
    index = next((i for i, item in enumerate(items) if item.product_id == product_id), None)
    if index is None or offset not in (-1, 1):
        return
    target = index + offset
    if 0 <= target < len(items):
        items[index], items[target] = items[target], items[index]
    _renumber(session, items)


@dataclass(frozen=True, slots=True)
class YmalPicker:
    """The picker after a change: the list, the search results again, and why a change was
    refused ("" when it was not)."""

    listed: list[YmalHit]
    hits: list[YmalHit]
    message: str = ""


def _picker(session: Session, query: str, message: str | None = None) -> YmalPicker:
    return YmalPicker(current_ymal(session), search_catalog(session, query), message or "")


def search_ymal(query: str) -> YmalPicker:
    """The list and the catalog's products matching `query`, for the picker."""
    with session_scope() as session:
        return _picker(session, query)


def add_to_ymal(product_id: int, query: str) -> YmalPicker:
    """Append a product and show the picker again, in one transaction."""
    with session_scope() as session:
        return _picker(session, query, add_ymal(session, product_id))


def remove_from_ymal(product_id: int, query: str) -> YmalPicker:
    with session_scope() as session:
        remove_ymal(session, product_id)
        return _picker(session, query)


def move_in_ymal(product_id: int, offset: int, query: str) -> YmalPicker:
    with session_scope() as session:
        move_ymal(session, product_id, offset)
        return _picker(session, query)


# --- the page --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CartPage:
    """What the Cart page shows when it loads."""

    settings: CartSettings
    ymal: list[YmalHit]


def load_cart_page() -> CartPage:
    with session_scope() as session:
        return CartPage(load_cart_settings(session), current_ymal(session))


def preview_link(session: Session, customer_id: int, public_url: str) -> str | None:
    """The customer's cart as a preview (creating their cart link if they have none)."""
    if session.get(Customer, customer_id) is None:
        return None
    link = get_or_create_link(session, customer_id)
    return preview_url(link.token, public_url)


def preview_customer_cart(customer_id: int) -> str | None:
    """`preview_link` at the store's public address, in a transaction of its own; None when
    the customer no longer exists."""
    with session_scope() as session:
        return preview_link(session, customer_id, effective_settings(session).public_url)
