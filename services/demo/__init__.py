"""A generated demo store, so RepeatCart shows real-looking carts with no Shopify at all.

Someone trying RepeatCart (or a Playwright test) needs a shop with a catalog, customers and a
year and a half of reorders before a single cart page means anything. `build_demo_store` makes
one locally: about 40 replenishable products, customers who reorder at believable cadences, the
odd cancelled, refunded and test order, a YMAL list, learned intervals, due rows, cart links and
a year of cart activity. Three sample customers are built by hand so that a "due", a "not due"
and a "due but partly out of stock" cart always exist. An admin (`admin@<demo shop>`) is created
too, with a random password handed back once in the summary.

`data` holds the tables, `pictures` draws the product images, `history` draws who buys what
when, and `builder` writes the store.
"""

from services.demo.builder import DemoRefused, DemoSummary, build_demo_store, sample_tokens
from services.demo.data import CATALOG, DEMO_SHOP_NAME, SAMPLE_KEYS, YMAL_HANDLES
from services.demo.history import HISTORY_DAYS
from services.demo.pictures import DEMO_IMAGE_PREFIX, product_image_path, product_image_svg

__all__ = [
    "CATALOG",
    "DEMO_IMAGE_PREFIX",
    "DEMO_SHOP_NAME",
    "HISTORY_DAYS",
    "SAMPLE_KEYS",
    "YMAL_HANDLES",
    "DemoRefused",
    "DemoSummary",
    "build_demo_store",
    "product_image_path",
    "product_image_svg",
    "sample_tokens",
]
