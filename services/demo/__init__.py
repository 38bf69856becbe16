"""A generated demo store, so RepeatCart shows real-looking carts with no Shopify at all.

Someone trying RepeatCart (or a Playwright test) needs a shop with a catalog, customers and a
year and a half of reorders before a single cart page means anything. `build_demo_store` makes
one locally: about 40 replenishable products, customers who reorder at believable cadences, the
odd cancelled, refunded and test order, a YMAL list, learned intervals, due rows and cart links.
It is deterministic (same seed and `now`, same store), and three sample customers are built by
hand so that a "due", a "not due" and a "due but partly out of stock" cart always exist.
An admin (`admin@<demo shop>`) is created too, with a random password handed back once in the
summary: the seed is public, so a password derived from it would be known to anyone.

Product images are drawn here too (`product_image_svg`), so nothing is downloaded.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import Table, bindparam, delete, func, insert, update
from sqlmodel import Session, SQLModel, select

from services.auth.admins import create_admin
from services.cart.links import get_or_create_link, new_token
from services.core.config import DEMO_SHOP_DOMAIN
from services.core.tables import (
    CartEvent,
    CartEventDay,
    CartLink,
    Customer,
    DueItem,
    IntervalStat,
    Order,
    OrderLine,
    Product,
    Shop,
    Variant,
    YmalItem,
)
from services.engine.recompute import recompute_all

DEMO_SHOP_NAME = "Evergreen Pantry"
DEMO_IMAGE_PREFIX = "/demo-images/"
HISTORY_DAYS = 540  # 18 months of orders before `now`
SAMPLE_KEYS = ("due", "not_due", "unavailable")

_MERGE_WINDOW = timedelta(days=7)  # purchases this close together become one order
_ONE_TIME_SHARE = 0.22
_CANCELLED_SHARE = 0.03
_REFUNDED_SHARE = 0.02
_TEST_ORDERS = 5


class DemoRefused(RuntimeError):
    """The database holds a real store; building the demo would delete it."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    shop_domain: str
    products: int
    variants: int
    customers: int
    orders: int
    due_customers: int
    sample_emails: dict[str, str]
    sample_tokens: dict[str, str]
    admin_email: str = ""
    admin_password: str = ""  # only known here, right after it was set; stored hashed


# --- the catalog --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _VariantSpec:
    title: str
    price: float  # dollars, before the seed's jitter
    factor: float = 1.0  # how much longer one unit lasts than the product's base size
    available: bool = True


@dataclass(frozen=True, slots=True)
class _ProductSpec:
    title: str
    short: str  # label drawn on the image
    shape: str  # bottle | jar | bag | box | tube | candle | pouch
    code: str  # SKU prefix
    cadence: tuple[float, float]  # true days per unit, the seed picks one in the range
    variants: tuple[_VariantSpec, ...]
    weight: float = 1.0  # popularity
    archived_days_ago: int | None = None
    replaced_by: str | None = None  # handle of the full-size product (samples, kits)

    @property
    def handle(self) -> str:
        return _slug(self.title)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _p(
    title: str,
    short: str,
    shape: str,
    code: str,
    cadence: tuple[float, float],
    *variants: tuple[Any, ...],
    weight: float = 1.0,
    archived_days_ago: int | None = None,
    replaced_by: str | None = None,
) -> _ProductSpec:
    return _ProductSpec(
        title,
        short,
        shape,
        code,
        cadence,
        tuple(_VariantSpec(*v) for v in variants),
        weight,
        archived_days_ago,
        replaced_by,
    )


_OUT = False  # readable marker for an out-of-stock variant

CATALOG: tuple[_ProductSpec, ...] = (
    # coffee and tea
    _p("House Blend Coffee", "House Blend", "bag", "COF", (21, 30),
       ("12 oz Whole Bean", 16.99), ("12 oz Ground", 16.99), ("2 lb Whole Bean", 38, 2.6),
       weight=3.0),
    _p("Single Origin Ethiopia Coffee", "Ethiopia", "bag", "COF", (21, 30),
       ("12 oz Whole Bean", 19.5), ("12 oz Ground", 19.5), weight=1.6),
    _p("Decaf Swiss Water Coffee", "Decaf", "bag", "COF", (24, 34),
       ("12 oz Whole Bean", 17.5), ("12 oz Ground", 17.5)),
    _p("Cold Brew Concentrate", "Cold Brew", "bottle", "COF", (10, 18),
       ("32 oz", 14.99, 1.0, _OUT)),
    _p("Coffee Starter Kit", "Starter Kit", "box", "KIT", (12, 18),
       ("3 x 4 oz Sampler", 12), weight=0.0, replaced_by="house-blend-coffee"),
    _p("Earl Grey Loose Leaf Tea", "Earl Grey", "pouch", "TEA", (30, 45),
       ("4 oz", 12.5), ("8 oz", 21, 2.0)),
    _p("Matcha Ceremonial Grade", "Matcha", "jar", "TEA", (30, 40),
       ("30 g", 29), ("100 g", 64, 3.0)),
    _p("Chamomile Sleep Tea", "Chamomile", "box", "TEA", (20, 35), ("20 Sachets", 9.99)),
    _p("Chai Spice Blend", "Chai", "pouch", "TEA", (30, 45), ("4 oz", 11.5),
       archived_days_ago=150),
    # supplements and sport
    _p("Daily Multivitamin", "Multi", "bottle", "VIT", (30, 45),
       ("60 Capsules", 24), ("120 Capsules", 42, 2.0), weight=2.0),
    _p("Vitamin D3 + K2", "D3 + K2", "bottle", "VIT", (40, 60), ("90 Softgels", 18)),
    _p("Omega-3 Fish Oil", "Omega-3", "bottle", "VIT", (30, 45),
       ("Natural 60 Softgels", 26), ("Lemon 60 Softgels", 26)),
    _p("Magnesium Glycinate", "Magnesium", "bottle", "VIT", (30, 60), ("120 Capsules", 22)),
    _p("Probiotic 50B", "Probiotic", "bottle", "VIT", (28, 35),
       ("30 Capsules", 34, 1.0, _OUT)),
    _p("Collagen Peptides", "Collagen", "jar", "VIT", (25, 35),
       ("Unflavored 20 oz", 39), ("Vanilla 20 oz", 42)),
    _p("Whey Protein Isolate", "Whey", "pouch", "PRO", (21, 35),
       ("Chocolate 2 lb", 54), ("Vanilla 2 lb", 54), ("Salted Caramel 2 lb", 56, 1.0, _OUT),
       weight=2.0),
    _p("Plant Protein", "Plant Protein", "pouch", "PRO", (21, 35),
       ("Chocolate 20 Servings", 44), ("Vanilla 20 Servings", 44)),
    _p("Electrolyte Drink Mix", "Electrolytes", "box", "PRO", (20, 30),
       ("Lemon Lime 30 Sticks", 28), ("Raspberry 30 Sticks", 28)),
    _p("Creatine Monohydrate", "Creatine", "jar", "PRO", (60, 90), ("500 g", 32)),
    # personal care
    _p("Argan Repair Shampoo", "Shampoo", "bottle", "HAI", (30, 50),
       ("16 oz", 22), ("32 oz Refill", 36, 2.0), weight=1.6),
    _p("Argan Repair Conditioner", "Conditioner", "bottle", "HAI", (35, 55), ("16 oz", 22)),
    _p("Charcoal Face Wash", "Face Wash", "tube", "SKN", (35, 50), ("6 oz", 18)),
    _p("Mineral Sunscreen SPF 30", "SPF 30", "tube", "SKN", (40, 70), ("3 oz", 24)),
    _p("Natural Deodorant", "Deodorant", "tube", "BOD", (30, 45),
       ("Cedar", 13), ("Lavender", 13), ("Unscented", 13)),
    _p("Whitening Toothpaste", "Toothpaste", "tube", "ORL", (30, 45), ("4 oz", 8.5)),
    _p("Razor Blade Refills", "Blades", "box", "SHV", (45, 90),
       ("8 Cartridges", 19), ("16 Cartridges", 34, 2.0), weight=1.6),
    _p("Shave Cream", "Shave Cream", "tube", "SHV", (45, 75), ("6 oz", 14)),
    _p("Bamboo Toothbrush 4-Pack", "Toothbrush", "box", "ORL", (80, 120), ("Soft", 12)),
    _p("Lemon Verbena Hand Cream", "Hand Cream", "tube", "BOD", (40, 60), ("2.5 oz", 16),
       archived_days_ago=90),
    # pets
    _p("Grain-Free Dog Food", "Dog Food", "bag", "PET", (21, 35),
       ("Chicken 12 lb", 52), ("Salmon 12 lb", 56, 1.0, _OUT), ("Chicken 24 lb", 79, 2.0),
       weight=2.0),
    _p("Indoor Cat Food", "Cat Food", "bag", "PET", (25, 35),
       ("Turkey 6 lb", 34), ("Salmon 6 lb", 34), weight=1.5),
    _p("Clumping Cat Litter", "Litter", "box", "PET", (14, 28), ("20 lb", 24)),
    _p("Dental Dog Chews", "Dog Chews", "pouch", "PET", (25, 35), ("30 Count", 27)),
    # home
    _p("Laundry Detergent Sheets", "Laundry", "box", "HOM", (30, 60),
       ("60 Loads", 18), ("120 Loads", 32, 2.0), weight=1.5),
    _p("Dishwasher Tablets", "Dishwasher", "box", "HOM", (30, 45), ("40 Count", 15)),
    _p("Plant-Based Dish Soap", "Dish Soap", "bottle", "HOM", (25, 40), ("16 oz", 8.49)),
    _p("All-Purpose Cleaner Refill", "Cleaner", "bottle", "HOM", (30, 50),
       ("Lemon 32 oz", 11), ("Eucalyptus 32 oz", 11)),
    _p("Soy Wax Candle", "Candle", "candle", "CAN", (40, 70),
       ("Fig & Cedar", 32), ("Sea Salt", 32), ("Amber", 34)),
    _p("Beeswax Taper Candles", "Tapers", "candle", "CAN", (40, 70), ("Pair", 18),
       archived_days_ago=240),
    _p("Compostable Trash Bags", "Trash Bags", "box", "HOM", (35, 50), ("50 Count", 14)),
    _p("Lavender Hand Soap Refill", "Hand Soap", "bottle", "HOM", (40, 60), ("34 oz", 16)),
)  # fmt: skip

_BY_HANDLE = {spec.handle: spec for spec in CATALOG}

YMAL_HANDLES = (
    "soy-wax-candle",
    "electrolyte-drink-mix",
    "matcha-ceremonial-grade",
    "bamboo-toothbrush-4-pack",
    "collagen-peptides",
    "dental-dog-chews",
)


# --- the three hand-built customers ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SampleOrder:
    days_ago: float
    lines: tuple[tuple[str, str, int], ...]  # (handle, variant title, quantity)


@dataclass(frozen=True, slots=True)
class _SampleCustomer:
    key: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    orders: tuple[_SampleOrder, ...]


# Due items: cadences < 50 days/unit, last bought >= 165 days ago, so no learned interval can
# make them not due. Not-due items: bought 1-5 days ago, and every learned interval is > 8 days.
SAMPLE_CUSTOMERS: tuple[_SampleCustomer, ...] = (
    _SampleCustomer(
        "due",
        "Ava",
        "Delgado",
        "ava.due@example.com",
        "+14155550142",
        (
            _SampleOrder(
                220,
                (
                    ("house-blend-coffee", "12 oz Whole Bean", 1),
                    ("whey-protein-isolate", "Chocolate 2 lb", 1),
                    ("argan-repair-shampoo", "16 oz", 1),
                ),
            ),
            _SampleOrder(
                165,
                (
                    ("house-blend-coffee", "12 oz Whole Bean", 1),
                    ("whey-protein-isolate", "Chocolate 2 lb", 1),
                    ("argan-repair-shampoo", "16 oz", 1),
                ),
            ),
            _SampleOrder(
                5,
                (
                    ("soy-wax-candle", "Fig & Cedar", 1),
                    ("natural-deodorant", "Cedar", 2),
                ),
            ),
        ),
    ),
    _SampleCustomer(
        "not_due",
        "Noah",
        "Fischer",
        "noah.fresh@example.com",
        "+12125550117",
        (
            _SampleOrder(
                62,
                (
                    ("grain-free-dog-food", "Chicken 12 lb", 1),
                    ("earl-grey-loose-leaf-tea", "4 oz", 1),
                ),
            ),
            _SampleOrder(31, (("grain-free-dog-food", "Chicken 12 lb", 1),)),
            _SampleOrder(
                1,
                (
                    ("grain-free-dog-food", "Chicken 12 lb", 1),
                    ("earl-grey-loose-leaf-tea", "4 oz", 1),
                    ("dental-dog-chews", "30 Count", 1),
                ),
            ),
        ),
    ),
    _SampleCustomer(
        "unavailable",
        "Mia",
        "Martinez",
        "mia.mixed@example.com",
        None,
        (
            _SampleOrder(
                170,
                (
                    ("whey-protein-isolate", "Salted Caramel 2 lb", 1),
                    ("electrolyte-drink-mix", "Lemon Lime 30 Sticks", 1),
                ),
            ),
            _SampleOrder(10, (("plant-based-dish-soap", "16 oz", 1),)),
        ),
    ),
)

_FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Oliver", "Charlotte", "Elijah", "Amelia", "James", "Sophia",
    "William", "Isabella", "Benjamin", "Evelyn", "Lucas", "Harper", "Henry", "Luna", "Theodore",
    "Camila", "Jack", "Gianna", "Levi", "Elizabeth", "Alexander", "Eleanor", "Jackson", "Ella",
    "Mateo", "Abigail", "Daniel", "Sofia", "Michael", "Avery", "Mason", "Scarlett", "Sebastian",
    "Emily", "Ethan", "Aria", "Logan", "Penelope", "Owen", "Chloe", "Samuel", "Layla", "Jacob",
    "Mila", "Asher", "Nora", "Aiden", "Hazel", "John", "Madison", "Joseph", "Ellie", "Wyatt",
    "Lily", "David", "Nova", "Leo", "Isla", "Luke", "Grace", "Julian", "Violet", "Hudson",
    "Aurora", "Grayson", "Riley", "Matthew", "Zoey", "Ezra", "Willow", "Gabriel", "Emilia",
    "Priya", "Wei", "Aisha", "Diego", "Yuki", "Omar", "Fatima", "Kenji", "Lucia", "Tariq",
)  # fmt: skip
_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Singh",
    "Okafor", "Murphy", "Cook", "Rogers", "Morgan", "Cooper", "Reed", "Bailey", "Bell", "Kelly",
    "Howard", "Ward", "Cox", "Diaz", "Richardson", "Wood", "Watson", "Brooks", "Bennett",
    "Gray", "James", "Reyes", "Cruz", "Hughes", "Price", "Myers", "Long", "Foster", "Sanders",
)  # fmt: skip
_AREA_CODES = (
    "212", "213", "206", "303", "305", "312", "404", "415", "503", "512", "602", "617", "646",
    "702", "713", "718", "720", "773", "801", "808", "818", "857", "917", "929",
)  # fmt: skip


# --- product images -------------------------------------------------------------------------

_SHAPES = ("bottle", "jar", "bag", "box", "tube", "candle", "pouch")

# Each shape: (body drawing, label rectangle x y w h). {b} body colour, {c} cap/accent colour.
_SHAPE_SVG: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "bottle": (
        '<rect x="176" y="68" width="48" height="30" rx="6" fill="{c}"/>'
        '<rect x="184" y="96" width="32" height="24" fill="{b}"/>'
        '<rect x="136" y="116" width="128" height="204" rx="30" fill="{b}"/>',
        (150, 176, 100, 86),
    ),
    "jar": (
        '<rect x="130" y="116" width="140" height="34" rx="8" fill="{c}"/>'
        '<rect x="120" y="146" width="160" height="174" rx="32" fill="{b}"/>',
        (138, 190, 124, 90),
    ),
    "bag": (
        '<path d="M128 112H272L288 318Q200 332 112 318Z" fill="{b}"/>'
        '<rect x="122" y="96" width="156" height="22" rx="5" fill="{c}"/>',
        (146, 180, 108, 90),
    ),
    "box": (
        '<rect x="118" y="104" width="164" height="216" rx="14" fill="{b}"/>'
        '<path d="M118 142H282" stroke="{c}" stroke-width="8"/>',
        (138, 182, 124, 90),
    ),
    "tube": (
        '<rect x="142" y="76" width="116" height="18" rx="4" fill="{c}"/>'
        '<path d="M148 92H252L236 290H164Z" fill="{b}"/>'
        '<rect x="176" y="288" width="48" height="32" rx="6" fill="{c}"/>',
        (160, 150, 80, 80),
    ),
    "candle": (
        '<path d="M200 96Q182 124 200 150Q218 124 200 96Z" fill="#f6b53d"/>'
        '<rect x="197" y="146" width="6" height="22" fill="#3a2f25"/>'
        '<rect x="126" y="164" width="148" height="156" rx="20" fill="{b}"/>'
        '<ellipse cx="200" cy="168" rx="68" ry="10" fill="{c}"/>',
        (144, 200, 112, 84),
    ),
    "pouch": (
        '<path d="M132 104H268L272 300Q272 320 252 320H148Q128 320 128 300Z" fill="{b}"/>'
        '<path d="M140 126H260" stroke="{c}" stroke-width="5" stroke-dasharray="10 6"/>',
        (146, 178, 108, 90),
    ),
}


def _hex(hue: float, lightness: float, saturation: float) -> str:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def _initials(text: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[1][0]).upper()


def product_image_svg(handle: str) -> str:
    """A small, deterministic product picture (400x400 SVG) for a demo product's handle.

    Unknown handles still get a picture (shape and label from the handle), so the image route
    never fails; all text is XML-escaped.
    """
    digest = hashlib.sha256(handle.encode("utf-8", "replace")).digest()
    spec = _BY_HANDLE.get(handle)
    if spec is not None:
        shape, caption = spec.shape, spec.short
    else:
        shape = _SHAPES[digest[2] % len(_SHAPES)]
        caption = " ".join(w.capitalize() for w in handle.split("-") if w)[:22] or "Product"
    hue = int.from_bytes(digest[:2], "big") / 65536
    body, (lx, ly, lw, lh) = _SHAPE_SVG[shape]
    body_colour = _hex(hue, 0.45, 0.42)
    accent = _hex(hue + 0.04, 0.3, 0.38)
    ink = _hex(hue, 0.22, 0.35)
    gradient = "g" + digest[:4].hex()
    initials = escape(_initials(caption))
    size = 34 if lw >= 100 else 28
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400">'
        f'<defs><linearGradient id="{gradient}" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{_hex(hue, 0.94, 0.6)}"/>'
        f'<stop offset="1" stop-color="{_hex(hue + 0.08, 0.82, 0.5)}"/>'
        "</linearGradient></defs>"
        f'<rect width="400" height="400" fill="url(#{gradient})"/>'
        '<ellipse cx="200" cy="324" rx="104" ry="12" fill="#000" opacity=".1"/>'
        + body.format(b=body_colour, c=accent)
        + f'<rect x="{lx}" y="{ly}" width="{lw}" height="{lh}" rx="10" fill="#fff" '
        'opacity=".92"/>'
        f'<text x="200" y="{ly + lh // 2 + size // 3}" font-family="Helvetica,Arial,sans-serif" '
        f'font-size="{size}" font-weight="700" text-anchor="middle" fill="{body_colour}">'
        f"{initials}</text>"
        '<text x="200" y="370" font-family="Helvetica,Arial,sans-serif" font-size="24" '
        f'text-anchor="middle" fill="{ink}">{escape(caption)}</text>'
        "</svg>"
    )


def product_image_path(handle: str) -> str:
    """Where the web app serves a demo product's picture."""
    return f"{DEMO_IMAGE_PREFIX}{handle}.svg"


# --- building -------------------------------------------------------------------------------

# Children first, so foreign keys never block a delete.
_TABLES_CHILDREN_FIRST: tuple[type[SQLModel], ...] = (
    CartEventDay,
    CartEvent,
    CartLink,
    DueItem,
    IntervalStat,
    OrderLine,
    Order,
    YmalItem,
    Variant,
    Product,
    Customer,
    Shop,
)


@dataclass(slots=True)
class _BuiltVariant:
    id: int
    title: str
    sku: str
    price_cents: int
    factor: float


@dataclass(slots=True)
class _BuiltProduct:
    id: int
    index: int
    spec: _ProductSpec
    cadence: float
    variants: list[_BuiltVariant]
    sold_until: datetime | None


@dataclass(slots=True)
class _Draft:
    """An order before it has an id: customer index, time and (product idx, variant idx, qty)."""

    customer: int
    at: datetime
    lines: list[list[int]] = field(default_factory=list)
    sample: bool = False


def build_demo_store(
    session: Session,
    *,
    seed: int = 7,
    customers: int = 1000,
    now: datetime,
    force: bool = False,
) -> DemoSummary:
    """Replace the database's store with a generated demo store and return what was built.

    `customers` counts everyone, the three sample customers included. Refuses (`DemoRefused`)
    when the database holds a store that is not the demo shop, unless `force`. Every row of
    the store's tables is deleted first and the session's identity map is cleared. The caller
    commits (e.g. inside `services.core.db.session_scope`).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if customers < len(SAMPLE_CUSTOMERS):
        raise ValueError(f"customers must be at least {len(SAMPLE_CUSTOMERS)}")
    if not force:
        _refuse_real_store(session)
    session.flush()
    _wipe(session)
    session.expunge_all()

    rng = random.Random(seed)
    session.add(
        Shop(
            shop_domain=DEMO_SHOP_DOMAIN,
            name=DEMO_SHOP_NAME,
            currency="USD",
            banner_text="10% off your reorder — applied at checkout",
            discount_code="REORDER10",
            lead_days=3,
            default_interval_days=30.0,
            min_reorder_customers=5,
            store_url=f"https://{DEMO_SHOP_DOMAIN}",
            updated_at=now,
        )
    )
    session.flush()
    products = _insert_catalog(session, rng, now)
    by_handle = {p.spec.handle: p for p in products}

    drafts: list[_Draft] = []
    for index, sample in enumerate(SAMPLE_CUSTOMERS):
        drafts.extend(_sample_drafts(index, sample, by_handle, now))
    for index in range(len(SAMPLE_CUSTOMERS), customers):
        drafts.extend(_random_drafts(index, rng, products, now))
    drafts.sort(key=lambda d: (d.at, d.customer))

    first_order: dict[int, datetime] = {}
    for draft in drafts:
        first_order.setdefault(draft.customer, draft.at)
    customer_ids = _insert_customers(session, rng, customers, first_order, now)
    order_count = _insert_orders(session, rng, drafts, customer_ids, products)
    session.execute(
        insert(YmalItem),
        [
            {"product_id": by_handle[handle].id, "position": position}
            for position, handle in enumerate(YMAL_HANDLES)
        ],
    )
    session.flush()

    recompute_all(session, now)
    session.execute(
        insert(CartLink),
        [
            {"customer_id": cid, "token": new_token(), "created_at": now, "revoked_at": None}
            for cid in customer_ids
        ],
    )
    _insert_cart_activity(session, seed, customer_ids, first_order, now)
    sample_tokens = {
        sample.key: get_or_create_link(session, customer_ids[index]).token
        for index, sample in enumerate(SAMPLE_CUSTOMERS)
    }
    due_customers = session.exec(
        select(func.count(func.distinct(DueItem.customer_id))).where(DueItem.remind_at <= now)
    ).one()
    admin_email = f"admin@{DEMO_SHOP_DOMAIN}"
    # Random, not from the seed: the seed is public, and a demo may be reachable by others.
    admin_password = secrets.token_urlsafe(12)
    create_admin(session, admin_email, admin_password, now)
    session.flush()
    return DemoSummary(
        shop_domain=DEMO_SHOP_DOMAIN,
        products=len(products),
        variants=sum(len(p.variants) for p in products),
        customers=customers,
        orders=order_count,
        due_customers=int(due_customers),
        sample_emails={sample.key: sample.email for sample in SAMPLE_CUSTOMERS},
        sample_tokens=sample_tokens,
        admin_email=admin_email,
        admin_password=admin_password,
    )


def sample_tokens(session: Session) -> dict[str, str]:
    """Cart tokens of the sample customers of an existing demo store (none for a real store)."""
    emails = {sample.email: sample.key for sample in SAMPLE_CUSTOMERS}
    customers = session.exec(select(Customer).where(Customer.email.in_(emails))).all()  # type: ignore[union-attr]
    tokens = {
        emails[customer.email]: get_or_create_link(session, customer.id).token  # type: ignore[index, arg-type]
        for customer in customers
    }
    return {key: tokens[key] for key in SAMPLE_KEYS if key in tokens}


def _refuse_real_store(session: Session) -> None:
    domains = session.exec(select(Shop.shop_domain)).all()
    others = sorted({domain for domain in domains if domain != DEMO_SHOP_DOMAIN})
    if others:
        raise DemoRefused(
            f"the database holds the shop {', '.join(others)}; building the demo store would "
            "delete it. Use an empty database, or force to replace it."
        )
    if not domains:
        for model in (Order, Customer, Product):
            if session.exec(select(func.count()).select_from(model)).one():
                raise DemoRefused(
                    "the database holds orders, customers or products but no shop; building "
                    "the demo store would delete them. Use an empty database, or force."
                )


def _wipe(session: Session) -> None:
    """Delete every row of the store's tables, and of any other table pointing at them."""
    ours = [model.__table__ for model in _TABLES_CHILDREN_FIRST]  # type: ignore[attr-defined]
    doomed = {table.name for table in ours}
    dependants: list[Table] = []
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in doomed and any(
            fk.column.table.name in doomed for fk in table.foreign_keys
        ):
            dependants.append(table)
    for table in dependants:
        session.execute(delete(table))
    session.execute(update(Product).values(replacement_product_id=None))
    for table in ours:
        session.execute(delete(table))


def _price_cents(base: float, jitter: float, ending: int) -> int:
    whole = math.floor(base * jitter)
    cents = whole * 100 + ending if ending else round(base * jitter) * 100
    return max(800, min(7900, cents))


def _insert_rows(session: Session, model: type[SQLModel], rows: Sequence[dict]) -> list[int]:
    """Bulk insert, returning the new ids in the order of `rows` (SQLite >= 3.35, PostgreSQL)."""
    if not rows:
        return []
    statement = insert(model).returning(model.id, sort_by_parameter_order=True)  # type: ignore[attr-defined]
    return list(session.scalars(statement, list(rows)))


def _insert_catalog(session: Session, rng: random.Random, now: datetime) -> list[_BuiltProduct]:
    product_gid = rng.randrange(7_100_000_000_000, 7_400_000_000_000)
    variant_gid = rng.randrange(41_000_000_000_000, 44_000_000_000_000)
    product_rows: list[dict] = []
    variant_plans: list[list[dict]] = []
    cadences: list[float] = []
    for index, spec in enumerate(CATALOG):
        product_gid += rng.randrange(1_000, 900_000)
        jitter = rng.uniform(0.9, 1.12)
        ending = rng.choice((0, 0, 50, 95, 99))
        cadences.append(round(rng.uniform(*spec.cadence), 1))
        status = "archived" if spec.archived_days_ago is not None else "active"
        product_rows.append(
            {
                "shopify_gid": f"gid://shopify/Product/{product_gid}",
                "shopify_id": product_gid,
                "title": spec.title,
                "handle": spec.handle,
                "status": status,
                "image_url": product_image_path(spec.handle),
                "interval_override_days": None,
                "replacement_product_id": None,
                "updated_at": now - timedelta(days=spec.archived_days_ago or rng.randint(3, 200)),
            }
        )
        plans = []
        for position, variant in enumerate(spec.variants):
            variant_gid += rng.randrange(1_000, 9_000_000)
            plans.append(
                {
                    "shopify_gid": f"gid://shopify/ProductVariant/{variant_gid}",
                    "shopify_id": variant_gid,
                    "title": variant.title,
                    "sku": f"EP-{spec.code}-{index + 1:03d}-{position + 1}",
                    "price_cents": _price_cents(variant.price, jitter, ending),
                    "available": variant.available,
                    "image_url": None,
                    "position": position,
                }
            )
        variant_plans.append(plans)
    product_ids = _insert_rows(session, Product, product_rows)

    variant_rows = [
        {**row, "product_id": product_id}
        for product_id, plans in zip(product_ids, variant_plans, strict=True)
        for row in plans
    ]
    variant_ids = iter(_insert_rows(session, Variant, variant_rows))
    built = []
    for index, (spec, product_id, plans) in enumerate(
        zip(CATALOG, product_ids, variant_plans, strict=True)
    ):
        variants = [
            _BuiltVariant(next(variant_ids), row["title"], row["sku"], row["price_cents"], v.factor)
            for row, v in zip(plans, spec.variants, strict=True)
        ]
        sold_until = (
            now - timedelta(days=spec.archived_days_ago) if spec.archived_days_ago else None
        )
        built.append(_BuiltProduct(product_id, index, spec, cadences[index], variants, sold_until))
    by_handle = {p.spec.handle: p for p in built}
    for product in built:
        if product.spec.replaced_by:
            session.execute(
                update(Product)
                .where(Product.id == product.id)  # type: ignore[arg-type]
                .values(replacement_product_id=by_handle[product.spec.replaced_by].id)
            )
    return built


def _sample_drafts(
    index: int, sample: _SampleCustomer, by_handle: dict[str, _BuiltProduct], now: datetime
) -> list[_Draft]:
    drafts = []
    for order in sample.orders:
        draft = _Draft(index, now - timedelta(days=order.days_ago, hours=2), sample=True)
        for handle, variant_title, quantity in order.lines:
            product = by_handle[handle]
            variant = next(i for i, v in enumerate(product.variants) if v.title == variant_title)
            draft.lines.append([product.index, variant, quantity])
        drafts.append(draft)
    return drafts


def _usual_quantity(rng: random.Random) -> int:
    roll = rng.random()
    return 1 if roll < 0.8 else 2 if roll < 0.95 else 3


def _random_drafts(
    customer: int, rng: random.Random, products: list[_BuiltProduct], now: datetime
) -> list[_Draft]:
    """One customer's orders: favourites reordered at their cadence, merged when close."""
    first = now - timedelta(days=rng.uniform(0.3, HISTORY_DAYS), minutes=rng.randint(0, 59))
    if rng.random() < 0.6:
        active_until = now
    else:
        active_until = min(now, first + timedelta(days=rng.expovariate(1 / 240)))
    eligible = [
        p
        for p in products
        if p.spec.weight > 0 and (p.sold_until is None or p.sold_until - first > timedelta(30))
    ]
    one_time = rng.random() < _ONE_TIME_SHARE
    if one_time:
        count = rng.choices((1, 2), weights=(60, 40))[0]
    else:
        count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    favourites: list[_BuiltProduct] = []
    while len(favourites) < count:
        pick = rng.choices(eligible, weights=[p.spec.weight for p in eligible])[0]
        if pick not in favourites:
            favourites.append(pick)
    kit = next((p for p in products if p.spec.replaced_by), None)

    events: list[tuple[datetime, int, int, int]] = []  # (time, product idx, variant idx, qty)
    for position, product in enumerate(favourites):
        start = first if position == 0 or one_time else first + timedelta(rng.uniform(0, 120))
        end = min(active_until, product.sold_until or now)
        weights = [3 if i == 0 else 1 for i in range(len(product.variants))]
        variant = rng.choices(range(len(product.variants)), weights=weights)[0]
        personal = min(1.45, max(0.7, rng.lognormvariate(0, 0.15)))
        usual = _usual_quantity(rng)
        moment = start
        while moment < end:
            quantity = usual if rng.random() < 0.85 else _usual_quantity(rng)
            shown, shown_variant, cadence = product, variant, product.cadence
            if (
                moment == first
                and kit is not None
                and product.spec.handle == kit.spec.replaced_by
                and rng.random() < 0.35
            ):
                shown, shown_variant, quantity, cadence = kit, 0, 1, kit.cadence
            factor = shown.variants[shown_variant].factor
            events.append((moment, shown.index, shown_variant, quantity))
            if one_time:
                break
            gap = cadence * quantity * factor * personal * rng.lognormvariate(0, 0.12)
            moment += timedelta(days=gap, hours=rng.uniform(-6, 6))
    if not events:  # gone again the moment they arrived: still their one order
        product = favourites[0]
        events.append((min(first, product.sold_until or first), product.index, 0, 1))
    events.sort()

    drafts: list[_Draft] = []
    for moment, product_index, variant_index, quantity in events:
        if drafts and moment - drafts[-1].at <= _MERGE_WINDOW:
            for line in drafts[-1].lines:
                if line[0] == product_index and line[1] == variant_index:
                    line[2] += quantity
                    break
            else:
                drafts[-1].lines.append([product_index, variant_index, quantity])
        else:
            drafts.append(_Draft(customer, moment, [[product_index, variant_index, quantity]]))
    return [draft for draft in drafts if draft.at < now]


def _insert_customers(
    session: Session,
    rng: random.Random,
    count: int,
    first_order: dict[int, datetime],
    now: datetime,
) -> list[int]:
    gid = rng.randrange(6_100_000_000_000, 6_900_000_000_000)
    rows = []
    for index in range(count):
        gid += rng.randrange(10_000, 5_000_000)
        created = first_order.get(index, now) - timedelta(minutes=rng.randint(1, 30))
        if index < len(SAMPLE_CUSTOMERS):
            sample = SAMPLE_CUSTOMERS[index]
            first_name, last_name, email, phone = (
                sample.first_name,
                sample.last_name,
                sample.email,
                sample.phone,
            )
        else:
            first_name = rng.choice(_FIRST_NAMES)
            last_name = rng.choice(_LAST_NAMES)
            email = f"{first_name.lower()}.{last_name.lower()}{index + 1}@example.com"
            phone = None
            if rng.random() < 0.6:
                phone = f"+1{rng.choice(_AREA_CODES)}55501{rng.randrange(100):02d}"
        rows.append(
            {
                "shopify_gid": f"gid://shopify/Customer/{gid}",
                "email": email,
                "phone": phone,
                "first_name": first_name,
                "last_name": last_name,
                "created_at": created,
            }
        )
    return _insert_rows(session, Customer, rows)


def _insert_orders(
    session: Session,
    rng: random.Random,
    drafts: list[_Draft],
    customer_ids: list[int],
    products: list[_BuiltProduct],
) -> int:
    """Orders in time order (#1001 first), then their lines; returns how many orders."""
    random_orders = [i for i, draft in enumerate(drafts) if not draft.sample]
    tests = set(rng.sample(random_orders, min(_TEST_ORDERS, len(random_orders))))
    gid = rng.randrange(5_100_000_000_000, 5_300_000_000_000)
    order_rows = []
    for number, draft in enumerate(drafts):
        gid += rng.randrange(100_000, 9_000_000)
        total = sum(
            products[p].variants[v].price_cents * quantity for p, v, quantity in draft.lines
        )
        cancelled_at = None
        status = "paid"
        updated = draft.at + timedelta(minutes=rng.randint(1, 90))
        roll = rng.random()
        if not draft.sample and roll < _CANCELLED_SHARE:
            cancelled_at = draft.at + timedelta(hours=rng.uniform(1, 48))
            status, updated = "voided", cancelled_at
        elif not draft.sample and roll < _CANCELLED_SHARE + _REFUNDED_SHARE:
            status = "refunded"
            updated = draft.at + timedelta(days=rng.uniform(3, 20))
        order_rows.append(
            {
                "shopify_gid": f"gid://shopify/Order/{gid}",
                "name": f"#{1001 + number}",
                "customer_id": customer_ids[draft.customer],
                "processed_at": draft.at,
                "updated_at": updated,
                "cancelled_at": cancelled_at,
                "financial_status": status,
                "test": number in tests,
                "total_cents": total,
                "currency": "USD",
                "source": "demo",
                "custom_attributes": {},
                "attributed_cart_id": None,
                "attributed_channel": None,
            }
        )
    order_ids = _insert_rows(session, Order, order_rows)
    line_rows = []
    for order_id, draft in zip(order_ids, drafts, strict=True):
        for p, v, quantity in draft.lines:
            product = products[p]
            variant = product.variants[v]
            title = product.spec.title
            if len(product.variants) > 1:
                title = f"{title} - {variant.title}"
            line_rows.append(
                {
                    "order_id": order_id,
                    "product_id": product.id,
                    "variant_id": variant.id,
                    "quantity": quantity,
                    "unit_price_cents": variant.price_cents,
                    "title": title,
                    "sku": variant.sku,
                }
            )
    for start in range(0, len(line_rows), 5000):
        session.execute(insert(OrderLine), line_rows[start : start + 5000])
    return len(order_rows)


# the channels cart links arrive through, as reminder messages tag them (`?ch=`), with weights
_CART_CHANNELS = (("klaviyo", 0.45), ("postscript", 0.25), ("attentive", 0.15), ("direct", 0.15))
_CART_DAYS = 365  # RepeatCart "installed" a year before `now`
_CART_ORDER_SHARE = 0.35  # repeat orders placed through the cart
_BROWSE_SESSIONS = 1.6  # visits without an order, per cart order
_ABANDONED_CHECKOUT_SHARE = 0.15  # of those visits, ones that reached checkout and stopped


def _insert_cart_activity(
    session: Session,
    seed: int,
    customer_ids: list[int],
    first_order: dict[int, datetime],
    now: datetime,
) -> None:
    """A year of shoppers using their carts, so the dashboard's analytics have figures.

    A share of each customer's repeat orders in the last year came through the cart: a visit
    from a reminder channel a little before, a checkout, and the order carrying the cart
    attributes (as a real checkout's would). Other visits end without an order. Its own random
    stream, so the rest of the demo is the same with or without it.
    """
    rng = random.Random(seed * 7919 + 1)
    since = now - timedelta(days=_CART_DAYS)
    links = dict(session.exec(select(CartLink.customer_id, CartLink.id)).all())
    first_at = {customer_ids[index]: at for index, at in first_order.items()}
    channels = [name for name, _ in _CART_CHANNELS]
    weights = [weight for _, weight in _CART_CHANNELS]
    orders = session.exec(
        select(Order.id, Order.customer_id, Order.processed_at, Order.total_cents).where(
            Order.processed_at >= since,
            Order.test.is_(False),  # type: ignore[attr-defined]
            Order.cancelled_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    events: list[dict[str, Any]] = []
    attributed: list[dict[str, Any]] = []

    def visit(link: int, customer: int, at: datetime, channel: str) -> None:
        events.append(_cart_event(link, customer, "view", at, channel))
        events.append(_cart_event(link, customer, "add", at + timedelta(seconds=40), channel))

    for order_id, customer, at, total in orders:
        link = links.get(customer)
        if link is None or at <= first_at.get(customer, at) or rng.random() >= _CART_ORDER_SHARE:
            continue
        channel = rng.choices(channels, weights)[0]
        opened = at - timedelta(minutes=rng.uniform(3, 90))
        visit(link, customer, opened, channel)
        checkout = _cart_event(link, customer, "checkout", at - timedelta(minutes=2), channel)
        events.append({**checkout, "value_cents": total, "currency": "USD"})
        attributed.append(
            {
                "order_id": order_id,
                "cart": link,
                "channel": channel,
                "attributes": {"_repeatcart_cart": str(link), "_repeatcart_channel": channel},
            }
        )
    customers_with_links = sorted(links)
    for _ in range(int(len(attributed) * _BROWSE_SESSIONS)):
        customer = rng.choice(customers_with_links)
        at = since + timedelta(seconds=rng.uniform(0, _CART_DAYS * 86400))
        channel = rng.choices(channels, weights)[0]
        if rng.random() < _ABANDONED_CHECKOUT_SHARE:
            visit(links[customer], customer, at, channel)
            left = at + timedelta(minutes=2)
            events.append(_cart_event(links[customer], customer, "checkout", left, channel))
        else:
            events.append(_cart_event(links[customer], customer, "view", at, channel))
    for start in range(0, len(events), 5000):
        session.execute(insert(CartEvent), events[start : start + 5000])
    if attributed:
        session.execute(
            update(Order.__table__)  # type: ignore[arg-type]
            .where(Order.__table__.c.id == bindparam("order_id"))  # type: ignore[attr-defined]
            .values(
                attributed_cart_id=bindparam("cart"),
                attributed_channel=bindparam("channel"),
                custom_attributes=bindparam("attributes"),
            ),
            attributed,
        )


def _cart_event(link: int, customer: int, kind: str, at: datetime, channel: str) -> dict[str, Any]:
    return {
        "cart_link_id": link,
        "customer_id": customer,
        "kind": kind,
        "variant_id": None,
        "quantity": None,
        "value_cents": None,
        "currency": None,
        "channel": channel,
        "occurred_at": at,
    }


__all__ = [
    "CATALOG",
    "DEMO_IMAGE_PREFIX",
    "DEMO_SHOP_NAME",
    "SAMPLE_KEYS",
    "YMAL_HANDLES",
    "DemoRefused",
    "DemoSummary",
    "build_demo_store",
    "product_image_path",
    "product_image_svg",
]
