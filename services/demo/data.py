"""The demo store's tables: its products, its three hand-built customers, names to draw from.

Plain data, so the store it describes can be read (and changed) without reading the code that
builds it. Cadences are the true days one unit lasts; the builder draws around them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DEMO_SHOP_NAME = "Evergreen Pantry"
SAMPLE_KEYS = ("due", "not_due", "unavailable")


@dataclass(frozen=True, slots=True)
class VariantSpec:
    title: str
    price: float  # dollars, before the seed's jitter
    factor: float = 1.0  # how much longer one unit lasts than the product's base size
    available: bool = True


@dataclass(frozen=True, slots=True)
class ProductSpec:
    title: str
    short: str  # label drawn on the image
    shape: str  # bottle | jar | bag | box | tube | candle | pouch
    code: str  # SKU prefix
    cadence: tuple[float, float]  # true days per unit, the seed picks one in the range
    variants: tuple[VariantSpec, ...]
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
) -> ProductSpec:
    return ProductSpec(
        title,
        short,
        shape,
        code,
        cadence,
        tuple(VariantSpec(*v) for v in variants),
        weight,
        archived_days_ago,
        replaced_by,
    )


_OUT = False  # readable marker for an out-of-stock variant

CATALOG: tuple[ProductSpec, ...] = (
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

CATALOG_BY_HANDLE = {spec.handle: spec for spec in CATALOG}

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
class SampleOrder:
    days_ago: float
    lines: tuple[tuple[str, str, int], ...]  # (handle, variant title, quantity)


@dataclass(frozen=True, slots=True)
class SampleCustomer:
    key: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    orders: tuple[SampleOrder, ...]


# Due items: cadences < 50 days/unit, last bought >= 165 days ago, so no learned interval can
# make them not due. Not-due items: bought 1-5 days ago, and every learned interval is > 8 days.
SAMPLE_CUSTOMERS: tuple[SampleCustomer, ...] = (
    SampleCustomer(
        "due",
        "Ava",
        "Delgado",
        "ava.due@example.com",
        "+14155550142",
        (
            SampleOrder(
                220,
                (
                    ("house-blend-coffee", "12 oz Whole Bean", 1),
                    ("whey-protein-isolate", "Chocolate 2 lb", 1),
                    ("argan-repair-shampoo", "16 oz", 1),
                ),
            ),
            SampleOrder(
                165,
                (
                    ("house-blend-coffee", "12 oz Whole Bean", 1),
                    ("whey-protein-isolate", "Chocolate 2 lb", 1),
                    ("argan-repair-shampoo", "16 oz", 1),
                ),
            ),
            SampleOrder(
                5,
                (
                    ("soy-wax-candle", "Fig & Cedar", 1),
                    ("natural-deodorant", "Cedar", 2),
                ),
            ),
        ),
    ),
    SampleCustomer(
        "not_due",
        "Noah",
        "Fischer",
        "noah.fresh@example.com",
        "+12125550117",
        (
            SampleOrder(
                62,
                (
                    ("grain-free-dog-food", "Chicken 12 lb", 1),
                    ("earl-grey-loose-leaf-tea", "4 oz", 1),
                ),
            ),
            SampleOrder(31, (("grain-free-dog-food", "Chicken 12 lb", 1),)),
            SampleOrder(
                1,
                (
                    ("grain-free-dog-food", "Chicken 12 lb", 1),
                    ("earl-grey-loose-leaf-tea", "4 oz", 1),
                    ("dental-dog-chews", "30 Count", 1),
                ),
            ),
        ),
    ),
    SampleCustomer(
        "unavailable",
        "Mia",
        "Martinez",
        "mia.mixed@example.com",
        None,
        (
            SampleOrder(
                170,
                (
                    ("whey-protein-isolate", "Salted Caramel 2 lb", 1),
                    ("electrolyte-drink-mix", "Lemon Lime 30 Sticks", 1),
                ),
            ),
            SampleOrder(10, (("plant-based-dish-soap", "16 oz", 1),)),
        ),
    ),
)

FIRST_NAMES = (
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
LAST_NAMES = (
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
AREA_CODES = (
    "212", "213", "206", "303", "305", "312", "404", "415", "503", "512", "602", "617", "646",
    "702", "713", "718", "720", "773", "801", "808", "818", "857", "917", "929",
)  # fmt: skip
