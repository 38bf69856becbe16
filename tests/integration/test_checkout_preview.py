"""The checkout preview: only while preview is on, only active products, at most 100 lines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from repeatcart_app.state.checkout_preview import PreviewView, preview_view
from services.cart.checkout_preview import (
    MAX_LINES,
    PermalinkRefused,
    PreviewOff,
    describe_permalink,
)
from services.cart.links import checkout_permalink
from services.core.config import DEMO_SHOP_DOMAIN, Settings, get_settings
from services.core.db import get_engine
from services.core.tables import Product, Shop, Variant

REAL_SHOP = "real-shop.myshopify.com"
DEFAULT = Settings(checkout_preview=None)


def add_shop(session: Session, domain: str) -> None:
    session.add(Shop(shop_domain=domain, name="Shop"))
    session.flush()


def add_product(session: Session, number: int, status: str, variant_title: str) -> int:
    """A product with one variant; the variant's Shopify id."""
    product = Product(
        shopify_gid=f"gid://shopify/Product/{number}",
        shopify_id=number,
        title=f"Product {number}",
        handle=f"product-{number}",
        status=status,
    )
    session.add(product)
    session.flush()
    variant_id = 1000 + number
    session.add(
        Variant(
            shopify_gid=f"gid://shopify/ProductVariant/{variant_id}",
            shopify_id=variant_id,
            product_id=product.id,
            title=variant_title,
        )
    )
    session.flush()
    return variant_id


@pytest.fixture
def catalog(session: Session) -> dict[str, int]:
    """The demo shop with one product of each status; variant ids by status."""
    add_shop(session, DEMO_SHOP_DOMAIN)
    ids = {
        "active": add_product(session, 1, "active", "1 kg"),
        "draft": add_product(session, 2, "draft", "Default Title"),
        "archived": add_product(session, 3, "archived", "Default Title"),
        "deleted": add_product(session, 4, "deleted", "Default Title"),
    }
    session.commit()
    return ids


def test_lines_name_only_active_products(session: Session, catalog: dict[str, int]) -> None:
    lines = [(catalog[status], n + 1) for n, status in enumerate(catalog)] + [(999_999, 1)]
    permalink = checkout_permalink(
        DEMO_SHOP_DOMAIN, lines, discount_code="SAVE 10", cart_id=7, channel="sms"
    )
    described = describe_permalink(session, permalink, DEFAULT)
    assert described.lines == [
        (catalog["active"], "Product 1 — 1 kg", 1),
        (catalog["draft"], "Unknown item", 2),  # a draft's title is not for the public
        (catalog["archived"], "Unknown item", 3),
        (catalog["deleted"], "Unknown item", 4),
        (999_999, "Unknown item", 1),
    ]
    assert described.discount_code == "SAVE 10"
    assert described.attributes == {"_repeatcart_cart": "7", "_repeatcart_channel": "sms"}


def test_at_most_100_lines_are_described(session: Session, catalog: dict[str, int]) -> None:
    most = [(catalog["active"], 1)] * MAX_LINES
    assert MAX_LINES == 100
    described = describe_permalink(session, checkout_permalink(DEMO_SHOP_DOMAIN, most), DEFAULT)
    assert len(described.lines) == 100
    too_many = checkout_permalink(DEMO_SHOP_DOMAIN, [*most, (catalog["active"], 1)])
    with pytest.raises(PermalinkRefused, match="101 lines; the preview shows carts of at most 100"):
        describe_permalink(session, too_many, DEFAULT)
    with pytest.raises(PermalinkRefused, match="too long"):
        describe_permalink(session, too_many + "&x=" + "y" * 10_000, DEFAULT)


@pytest.mark.parametrize(
    "permalink",
    [
        "",
        "http://demo.example/cart/1:1",
        "https://demo.example/products/1",
        "https://demo.example/cart/",
        "https://demo.example/cart/1:1,,2:1",
        "https://demo.example/cart/1:1,x:2",
        "https://demo.example/cart/1:1000",
    ],
)
def test_malformed_permalinks_are_refused(
    session: Session, catalog: dict[str, int], permalink: str
) -> None:
    with pytest.raises(PermalinkRefused, match="not a valid cart permalink"):
        describe_permalink(session, permalink, DEFAULT)


def test_a_real_shop_has_no_preview_unless_it_is_turned_on(session: Session) -> None:
    permalink = checkout_permalink(REAL_SHOP, [(1001, 1)])
    with pytest.raises(PreviewOff):  # no shop stored yet: not the demo
        describe_permalink(session, permalink, DEFAULT)
    add_shop(session, REAL_SHOP)
    add_product(session, 1, "active", "Default Title")
    with pytest.raises(PreviewOff):
        describe_permalink(session, permalink, DEFAULT)
    turned_on = Settings(checkout_preview=True)
    assert describe_permalink(session, permalink, turned_on).lines == [(1001, "Product 1", 1)]


def test_the_demo_shop_has_no_preview_when_it_is_turned_off(
    session: Session, catalog: dict[str, int]
) -> None:
    permalink = checkout_permalink(DEMO_SHOP_DOMAIN, [(catalog["active"], 1)])
    with pytest.raises(PreviewOff):
        describe_permalink(session, permalink, Settings(checkout_preview=False))


@pytest.fixture
def configured(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The page's own sessions use the test database; the preview setting is unset."""
    monkeypatch.setenv("REPEATCART_DATABASE_URL", database_url)
    monkeypatch.delenv("REPEATCART_CHECKOUT_PREVIEW", raising=False)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def a_cart_at(database_url: str, shop_domain: str) -> str:
    """A shop with one product, and the permalink of a cart of it."""
    with Session(get_engine(database_url)) as session:
        add_shop(session, shop_domain)
        variant = add_product(session, 1, "active", "Default Title")
        session.commit()
    return checkout_permalink(shop_domain, [(variant, 2)], discount_code="SAVE")


def test_the_page_is_not_found_while_preview_is_off(configured: str) -> None:
    """The page state's logic (the browser tests cover both, on a second app for "off")."""
    permalink = a_cart_at(configured, REAL_SHOP)
    assert preview_view(permalink) == PreviewView("off")
    assert preview_view("not a permalink") == PreviewView("off")


def test_the_page_shows_the_lines_while_preview_is_on(configured: str) -> None:
    permalink = a_cart_at(configured, DEMO_SHOP_DOMAIN)
    view = preview_view(permalink)
    assert (view.status, view.permalink, view.discount_code) == ("ok", permalink, "SAVE")
    assert [(line.variant_id, line.title, line.quantity) for line in view.lines] == [
        ("1001", "Product 1", 2)
    ]
    refused = preview_view("https://demo.example/cart/")
    assert (refused.status, refused.permalink) == ("refused", "")
