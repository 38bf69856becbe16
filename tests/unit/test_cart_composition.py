"""Cart composition: sections, selection, availability, replacements, YMAL de-duplication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.engine import (
    CartComposition,
    CartItem,
    CatalogProduct,
    CatalogVariant,
    DueEntry,
    compose_cart,
    resolve_replacement,
)

FAST = settings(max_examples=200, deadline=None, database=None)
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def variant(
    variant_id: int, price: int | None = 1000, available: bool = True, image: str | None = None
) -> CatalogVariant:
    return CatalogVariant(
        variant_id=variant_id,
        product_id=variant_id // 10,
        title=f"V{variant_id}",
        price_cents=price,
        available=available,
        image_url=image,
        sku=f"SKU-{variant_id}",
    )


def product(product_id: int, *variants: CatalogVariant, sold: bool = True) -> CatalogProduct:
    return CatalogProduct(
        product_id=product_id,
        title=f"Product {product_id}",
        handle=f"product-{product_id}",
        sold=sold,
        image_url=f"https://img/{product_id}.jpg",
        variants=variants,
    )


CATALOG = {
    p.product_id: p
    for p in (
        product(1, variant(11, 1200), variant(12, 2000, image="https://img/12.jpg")),
        product(2, variant(21, 1300, available=False), variant(22, 1400)),
        product(3, variant(31, 500), sold=False),
        product(4, variant(41, None)),
        product(5, variant(51, 0)),  # a free starter kit, replaced by product 1
        product(6, variant(61, 900)),
        product(7, variant(71, 800, available=False)),
        product(8),
    )
}


def entry(
    product_id: int,
    variant_id: int | None = None,
    quantity: int = 1,
    due_in: timedelta = 10 * DAY,
    bought_ago: timedelta = 20 * DAY,
) -> DueEntry:
    """An entry due `due_in` from NOW (negative: overdue); reminded 3 days before that."""
    due_at = NOW + due_in
    return DueEntry(
        customer_id=1,
        product_id=product_id,
        variant_id=variant_id,
        last_purchased_at=NOW - bought_ago,
        last_quantity=quantity,
        interval_days=30.0,
        interval_source="default",
        due_at=due_at,
        remind_at=due_at - 3 * DAY,
        late_at=due_at + 15 * DAY,
    )


def compose(
    entries: list[DueEntry],
    ymal: tuple[int, ...] = (),
    replacements: dict[int, int] | None = None,
    hide: bool = False,
) -> CartComposition:
    return compose_cart(entries, CATALOG, ymal, replacements or {}, hide, NOW)


def ids(items: tuple[CartItem, ...]) -> list[int]:
    return [item.product_id for item in items]


# --- sections -------------------------------------------------------------------------------


def test_sections_selection_and_order() -> None:
    cart = compose(
        [
            entry(6, 61, due_in=2 * DAY),  # not yet due, but inside the 3 lead days
            entry(1, 12, quantity=2, due_in=-5 * DAY),
            entry(2, 22, due_in=30 * DAY, bought_ago=10 * DAY),
            entry(7, 71, due_in=30 * DAY, bought_ago=5 * DAY),
        ],
        ymal=(6, 2, 4, 3, 99, 1),
    )
    assert ids(cart.due) == [1, 6]  # earliest due first
    first = cart.due[0]
    assert (first.variant_id, first.quantity, first.selected) == (12, 2, True)
    assert first.available
    assert (first.title, first.variant_title, first.price_cents) == ("Product 1", "V12", 2000)
    assert first.image_url == "https://img/12.jpg"  # the variant's image beats the product's
    assert first.due_at == NOW - 5 * DAY
    assert first.section == "due"
    assert cart.due[1].image_url == "https://img/6.jpg"

    assert ids(cart.previous) == [7, 2]  # most recently bought first
    assert [(i.selected, i.available) for i in cart.previous] == [(False, False), (False, True)]
    assert cart.previous[1].due_at == NOW + 30 * DAY

    # 6, 2, 1 shown above; 3 no longer sold; 99 unknown; 4 has no price
    assert ids(cart.ymal) == [4]
    (pick,) = cart.ymal
    assert (pick.quantity, pick.selected, pick.available, pick.due_at) == (1, False, False, None)

    assert cart.selected == ((12, 2), (61, 1))


def test_hide_unavailable_removes_unavailable_items_everywhere() -> None:
    cart = compose(
        [
            entry(1, 12, due_in=-DAY),
            entry(2, 21, due_in=-DAY),  # bought variant out of stock
            entry(7, 71, due_in=30 * DAY),
        ],
        ymal=(4, 6, 8),
        hide=True,
    )
    assert ids(cart.due) == [1]
    assert ids(cart.previous) == []
    assert ids(cart.ymal) == [6]


def test_bought_variant_out_of_stock_is_shown_unavailable_not_swapped() -> None:
    (item,) = compose([entry(2, 21, due_in=-DAY)]).due
    assert (item.variant_id, item.available, item.selected) == (21, False, False)


def test_no_longer_sold_product_is_unavailable_in_due_and_absent_from_previous() -> None:
    cart = compose([entry(3, 31, due_in=-DAY)])
    assert [(i.product_id, i.available, i.selected) for i in cart.due] == [(3, False, False)]
    assert compose([entry(3, 31, due_in=30 * DAY)]).previous == ()


def test_missing_price_is_unavailable_and_never_selected() -> None:
    cart = compose([entry(4, 41, due_in=-DAY)])
    assert [(i.price_cents, i.available, i.selected) for i in cart.due] == [(None, False, False)]
    assert cart.selected == ()


def test_zero_price_is_still_a_valid_checkout() -> None:
    (item,) = compose([entry(5, 51, due_in=-DAY)]).due
    assert (item.price_cents, item.available, item.selected) == (0, True, True)


def test_products_missing_from_the_catalog_are_left_out() -> None:
    cart = compose([entry(42, 421, due_in=-DAY), entry(43, 431, due_in=30 * DAY)], ymal=(1,))
    assert (cart.due, cart.previous) == ((), ())
    assert ids(cart.ymal) == [1]


def test_variant_falls_back_to_first_available_then_first_then_none() -> None:
    cart = compose(
        [
            entry(2, 99, due_in=-3 * DAY),  # deleted variant: first available (22)
            entry(7, None, due_in=-2 * DAY),  # nothing available: first variant (71)
            entry(8, 81, due_in=-DAY),  # no variants at all
        ]
    )
    assert [(i.product_id, i.variant_id, i.available) for i in cart.due] == [
        (2, 22, True),
        (7, 71, False),
        (8, None, False),
    ]
    assert (cart.due[2].variant_title, cart.due[2].price_cents) == ("", None)
    assert cart.selected == ((22, 1),)


def test_quantity_is_clamped_to_what_a_cart_accepts() -> None:
    cart = compose([entry(1, 11, quantity=150, due_in=-DAY), entry(6, 61, quantity=0, due_in=-DAY)])
    assert [i.quantity for i in cart.due] == [99, 1]


def test_previous_ties_and_duplicates() -> None:
    cart = compose(
        [
            entry(6, 61, quantity=1, bought_ago=5 * DAY),
            entry(2, 22, quantity=1, bought_ago=5 * DAY),
            entry(5, 51, quantity=4, bought_ago=50 * DAY),  # replaced by 1
            entry(1, 11, quantity=2, bought_ago=9 * DAY),
        ],
        replacements={5: 1},
    )
    assert ids(cart.previous) == [2, 6, 1]  # same day: by product id
    merged = cart.previous[2]
    assert (merged.quantity, merged.replaces_product_id, merged.variant_id) == (4, None, 11)
    assert merged.due_at == NOW + 10 * DAY


# --- replacements ---------------------------------------------------------------------------


def test_replacement_shows_the_new_product_with_the_original_timing() -> None:
    due_at = NOW - 2 * DAY
    cart = compose([entry(5, 51, quantity=3, due_in=-2 * DAY)], replacements={5: 1})
    (item,) = cart.due
    assert (item.product_id, item.title, item.replaces_product_id) == (1, "Product 1", 5)
    assert (item.variant_id, item.quantity, item.due_at, item.selected) == (11, 3, due_at, True)


def test_replacement_is_not_due_until_the_original_is() -> None:
    cart = compose([entry(5, 51, due_in=10 * DAY)], replacements={5: 1})
    assert cart.due == ()
    assert [(i.product_id, i.replaces_product_id) for i in cart.previous] == [(1, 5)]


def test_entries_mapping_to_one_product_collapse_keeping_earliest_due_and_larger_quantity() -> None:
    cart = compose(
        [entry(5, 51, quantity=1, due_in=-DAY), entry(1, 12, quantity=2, due_in=-4 * DAY)],
        replacements={5: 1},
    )
    (item,) = cart.due
    assert (item.product_id, item.due_at, item.quantity) == (1, NOW - 4 * DAY, 2)
    assert (item.variant_id, item.replaces_product_id) == (12, None)

    cart = compose(
        [entry(5, 51, quantity=4, due_in=-5 * DAY), entry(1, 12, quantity=2, due_in=-DAY)],
        replacements={5: 1},
    )
    (item,) = cart.due
    assert (item.due_at, item.quantity, item.replaces_product_id) == (NOW - 5 * DAY, 4, 5)
    assert item.variant_id == 12  # the kit's variant is not product 1's; the one they bought is


def test_a_product_shown_as_due_is_not_repeated_in_previous_or_ymal() -> None:
    cart = compose(
        [entry(5, 51, due_in=-DAY), entry(1, 11, due_in=20 * DAY)],
        ymal=(1, 5, 6),
        replacements={5: 1},
    )
    assert ids(cart.due) == [1]
    assert cart.previous == ()
    assert ids(cart.ymal) == [5, 6]  # the kit itself is a product the merchant may recommend


def test_replacement_chains_are_followed_and_loops_end() -> None:
    assert resolve_replacement(5, {5: 6, 6: 1}) == 1
    assert resolve_replacement(5, {5: 6, 6: 5}) == 6
    assert resolve_replacement(5, {5: 5}) == 5
    assert resolve_replacement(7, {5: 6}) == 7
    (item,) = compose([entry(5, 51, due_in=-DAY)], replacements={5: 6, 6: 1}).due
    assert (item.product_id, item.replaces_product_id) == (1, 5)


def test_ymal_keeps_merchant_order_without_duplicates() -> None:
    cart = compose([], ymal=(6, 1, 6, 2, 1))
    assert ids(cart.ymal) == [6, 1, 2]
    assert [i.variant_id for i in cart.ymal] == [61, 11, 22]  # first available variant
    assert all(i.quantity == 1 and not i.selected for i in cart.ymal)


# --- properties -----------------------------------------------------------------------------

PRODUCT_IDS = st.integers(1, 8)


@st.composite
def catalogs(draw: st.DrawFn) -> dict[int, CatalogProduct]:
    catalog = {}
    for product_id in draw(st.sets(PRODUCT_IDS)):
        variants = tuple(
            CatalogVariant(
                variant_id=product_id * 10 + index,
                product_id=product_id,
                title=f"V{index}",
                price_cents=draw(st.one_of(st.none(), st.integers(0, 5000))),
                available=draw(st.booleans()),
                image_url=None,
                sku=None,
            )
            for index in range(draw(st.integers(0, 3)))
        )
        catalog[product_id] = CatalogProduct(
            product_id, f"P{product_id}", f"p{product_id}", draw(st.booleans()), None, variants
        )
    return catalog


@st.composite
def entry_lists(draw: st.DrawFn) -> list[DueEntry]:
    entries = []
    for product_id in draw(st.sets(PRODUCT_IDS)):
        due_at = NOW + timedelta(hours=draw(st.integers(-2000, 2000)))
        entries.append(
            DueEntry(
                customer_id=1,
                product_id=product_id,
                variant_id=draw(
                    st.one_of(st.none(), st.integers(product_id * 10 - 2, product_id * 10 + 4))
                ),
                last_purchased_at=NOW - timedelta(hours=draw(st.integers(0, 5000))),
                last_quantity=draw(st.integers(1, 150)),
                interval_days=30.0,
                interval_source="default",
                due_at=due_at,
                remind_at=due_at - timedelta(days=draw(st.integers(0, 5))),
                late_at=due_at + DAY,
            )
        )
    return entries


@FAST
@given(
    entry_lists(),
    catalogs(),
    st.lists(PRODUCT_IDS, max_size=8),
    st.dictionaries(PRODUCT_IDS, PRODUCT_IDS, max_size=4),
    st.booleans(),
)
def test_cart_invariants(
    entries: list[DueEntry],
    catalog: dict[int, CatalogProduct],
    ymal: list[int],
    replacements: dict[int, int],
    hide: bool,
) -> None:
    cart = compose_cart(entries, catalog, ymal, replacements, hide, NOW)
    items = cart.due + cart.previous + cart.ymal
    shown = [item.product_id for item in items]
    assert len(shown) == len(set(shown)), "a product appears twice on the page"

    due_entries = [e for e in entries if e.is_due(NOW)]
    due_targets = {resolve_replacement(e.product_id, replacements) for e in due_entries}
    previous_targets = {
        resolve_replacement(e.product_id, replacements) for e in entries if not e.is_due(NOW)
    }

    for item in items:
        product = catalog[item.product_id]
        variant = next((v for v in product.variants if v.variant_id == item.variant_id), None)
        expected_available = (
            product.sold
            and variant is not None
            and variant.available
            and variant.price_cents is not None
        )
        assert item.available == expected_available
        assert 1 <= item.quantity <= 99
        if hide:
            assert item.available
        if item.selected:
            assert item.available and item.variant_id is not None
            assert item.price_cents is not None
        if item.variant_id is not None:
            assert variant is not None
            assert item.price_cents == variant.price_cents
        elif product.variants:
            raise AssertionError("a product with variants shown without one")

    for item in cart.due:
        assert item.selected == item.available
        assert item.product_id in due_targets
        source = item.replaces_product_id or item.product_id
        assert resolve_replacement(source, replacements) == item.product_id
    due_times = [i.due_at for i in cart.due if i.due_at is not None]
    assert due_times == sorted(due_times) and len(due_times) == len(cart.due)
    if not hide:
        due_ids = {i.product_id for i in cart.due}
        assert due_ids == due_targets & set(catalog)
        sold = {p for p, product in catalog.items() if product.sold}
        assert {i.product_id for i in cart.previous} == (previous_targets & sold) - due_ids

    for item in cart.previous + cart.ymal:
        assert not item.selected
        assert catalog[item.product_id].sold
    for item in cart.previous:
        assert item.product_id in previous_targets
    for item in cart.ymal:
        assert item.quantity == 1

    above = {i.product_id for i in cart.due + cart.previous}
    assert not above & {i.product_id for i in cart.ymal}, "YMAL repeats an item shown above"
    positions = [ymal.index(i.product_id) for i in cart.ymal]
    assert positions == sorted(positions), "YMAL out of the merchant's order"

    assert cart.selected == tuple(
        (i.variant_id, i.quantity) for i in items if i.selected and i.variant_id is not None
    )
    assert all(i.section == "due" for i in items if i.selected)


@FAST
@given(entry_lists(), catalogs(), st.integers(1, 8), st.integers(1, 8))
def test_replacement_shows_b_with_a_timing(
    entries: list[DueEntry], catalog: dict[int, CatalogProduct], original: int, replacement: int
) -> None:
    if original == replacement:
        return
    others = [e for e in entries if e.product_id not in (original, replacement)]
    a = entry(original, None, quantity=3, due_in=-DAY)
    cart = compose_cart([a, *others], catalog, [], {original: replacement}, False, NOW)
    if replacement not in catalog:
        assert original not in {i.product_id for i in cart.due}
        return
    (item,) = [i for i in cart.due if i.product_id == replacement]
    assert (item.replaces_product_id, item.due_at, item.quantity) == (original, a.due_at, 3)
    assert original not in {i.product_id for i in cart.due + cart.previous}
