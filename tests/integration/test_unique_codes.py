"""Unique discount codes end to end: the scan reserves, the job creates them in the fake
Shopify (batches of 250, polled), delivery sends each customer their own code, the cart shows
it; duplicates are drawn afresh and refusals fall back to the shop's global code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import update
from sqlmodel import Session, col, select

from services.cart.links import get_or_create_link
from services.cart.page import load_cart
from services.core.config import Settings, get_settings
from services.core.db import get_engine
from services.core.tables import Customer, Shop, SyncState, UniqueCode
from services.discounts.codes import CODE_WAIT, event_code, reserve_codes
from services.discounts.creation import STATE, create_pending_codes
from services.settings.cart import load_cart_settings, save_cart_settings
from services.shopify.client import ShopifyClient
from services.sync.runs import sync_overview
from tests.fakes.shopify import FakeShopify
from tests.integration.dispatch_world import BOUGHT, NOW, Store, World, no_sleep

TOKEN = "shpat_codes"
ONLY_POSTSCRIPT = {"klaviyo_api_key": "", "attentive_api_key": "", "unique_codes": True}


@pytest.fixture
def shopify() -> Iterator[FakeShopify]:
    with FakeShopify(token=TOKEN) as fake:
        yield fake


def _client(fake: FakeShopify) -> ShopifyClient:
    return ShopifyClient(fake.shop, TOKEN, "2026-10", fake.base_url, sleep=no_sleep)


def _settings(**values: object) -> Settings:
    return Settings(unique_codes=True, unique_code_prefix="RC-", **values)  # type: ignore[arg-type]


def _create(fake: FakeShopify, **values: object):
    with time_machine.travel(NOW + timedelta(seconds=30)), _client(fake) as client:
        return create_pending_codes(client, _settings(**values), poll_seconds=0.01)


def _codes(session: Session) -> list[UniqueCode]:
    session.expire_all()
    return list(session.exec(select(UniqueCode).order_by(col(UniqueCode.id))).all())


def _customers(session: Session, count: int) -> list[int]:
    rows = [Customer(email=f"c{i}@example.com", first_name=f"C{i}") for i in range(count)]
    session.add_all(rows)
    session.commit()
    return [int(row.id or 0) for row in rows]


def test_codes_go_up_250_a_call_and_are_polled_until_done(
    app_database: str, session: Session, shopify: FakeShopify
) -> None:
    ids = _customers(session, 600)
    reserved = reserve_codes(session, dict.fromkeys(ids), "RC-", NOW)
    session.commit()
    assert len(set(reserved.values())) == 600
    assert all(code.startswith("RC-") and len(code) == 11 for code in reserved.values())

    summary = _create(shopify)

    assert (summary.created, summary.failed, summary.batches, summary.discounts) == (600, 0, 3, 1)
    assert shopify.discounts.calls["create"] == 1
    assert shopify.discounts.calls["bulk_add"] == 3  # 250 + 250 + 100
    assert shopify.discounts.calls["poll"] >= 3 * shopify.discounts.polls
    (discount,) = shopify.discounts.discounts.values()
    assert discount.applies_once_per_customer and discount.usage_limit == 1
    assert discount.value == {"percentage": 0.1}
    assert set(discount.codes[1:]) == set(reserved.values())  # the first is the seed code
    rows = _codes(session)
    assert {row.state for row in rows} == {"created"}
    assert {row.discount_gid for row in rows} == {discount.gid}
    assert all(row.ends_at == NOW + timedelta(seconds=30, days=28) for row in rows)
    # the next run adds to the same discount; nothing pending, nothing sent
    assert _create(shopify).batches == 0
    assert shopify.discounts.calls["create"] == 1


def test_a_code_taken_in_the_shop_is_drawn_afresh_and_never_given_twice(
    app_database: str, session: Session, shopify: FakeShopify
) -> None:
    ids = _customers(session, 3)
    reserved = reserve_codes(session, dict.fromkeys(ids), "RC-", NOW)
    session.commit()
    taken = reserved[ids[1]]
    shopify.discounts.preexisting(taken)

    summary = _create(shopify)  # the redrawn code goes up in a second batch of the same run
    assert (summary.created, summary.redrawn, summary.failed, summary.batches) == (3, 1, 0, 2)
    assert shopify.discounts.calls["bulk_add"] == 2
    rows = {row.customer_id: row for row in _codes(session)}
    assert {row.state for row in rows.values()} == {"created"}
    assert rows[ids[0]].code == reserved[ids[0]] and rows[ids[1]].code != taken
    assert len({row.code for row in rows.values()}) == 3
    assert rows[ids[1]].code in shopify.discounts.all_codes()
    assert taken not in {row.code for row in rows.values()}


def test_a_new_discount_when_the_value_changes(
    app_database: str, session: Session, shopify: FakeShopify
) -> None:
    ids = _customers(session, 2)
    reserve_codes(session, {ids[0]: None}, "RC-", NOW)
    session.commit()
    _create(shopify)
    reserve_codes(session, {ids[1]: None}, "RC-", NOW)
    session.commit()
    _create(shopify, unique_code_kind="fixed", unique_code_value=500)
    assert shopify.discounts.calls["create"] == 2
    values = [d.value for d in shopify.discounts.discounts.values()]
    assert values[1] == {"discountAmount": {"amount": "5.00", "appliesOnEachItem": False}}


def test_without_the_scope_codes_fail_with_the_reason_and_fall_back_to_the_global_code(
    app_database: str, session: Session, shopify: FakeShopify
) -> None:
    session.add(Shop(shop_domain="evergreen.myshopify.com", discount_code="REORDER10"))
    ids = _customers(session, 2)
    reserved = reserve_codes(session, dict.fromkeys(ids), "RC-", NOW)
    session.commit()
    shopify.discounts.scope = False

    summary = _create(shopify)

    assert summary.failed == 2 and "write_discounts" in summary.error
    assert {row.state for row in _codes(session)} == {"failed"}
    assert "Could not create discount codes" in _codes(session)[0].error
    state = session.get(SyncState, STATE)
    assert state is not None and state.last_status == "failed"
    assert "write_discounts" in sync_overview(session).discount_codes.error
    outcome = event_code(session, reserved[ids[0]], NOW)
    assert outcome.code == "REORDER10" and outcome.wait_until is None


def test_throttled_and_failed_replies_are_retried_and_an_outage_loses_nothing(
    app_database: str, session: Session, shopify: FakeShopify
) -> None:
    ids = _customers(session, 3)
    reserve_codes(session, dict.fromkeys(ids), "RC-", NOW)
    session.commit()
    shopify.fail_next(20, status=500)  # more than the client's 8 attempts: Shopify is down

    down = _create(shopify)

    assert down.created == 0 and "HTTP 500" in down.error
    assert {row.state for row in _codes(session)} == {"pending"}  # kept for the next run
    shopify.clear_faults()
    shopify.throttle_next(2)
    shopify.fail_next(1, status=503, retry_after=0)

    back = _create(shopify)

    assert (back.created, back.failed, back.error) == (3, 0, "")
    assert shopify.stats.throttled >= 2
    assert {row.state for row in _codes(session)} == {"created"}
    state = session.get(SyncState, STATE)
    session.refresh(state)
    assert state is not None and state.last_status == "ok" and state.last_error == ""


def test_the_fake_refuses_more_than_250_codes_and_bad_discounts(shopify: FakeShopify) -> None:
    with _client(shopify) as client:
        refused = client._http.post(
            client.endpoint,
            json={
                "query": "mutation A($id: ID!, $codes: [DiscountRedeemCodeInput!]!) { "
                "discountRedeemCodeBulkAdd(discountId: $id, codes: $codes) { "
                "bulkCreation { id } userErrors { message } } }",
                "variables": {
                    "id": "gid://shopify/DiscountCodeNode/1",
                    "codes": [{"code": f"X{i}"} for i in range(251)],
                },
            },
        ).json()
        assert refused["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
        assert refused["extensions"]["cost"]["requestedQueryCost"] == 10
        bad = client.execute(
            "mutation B($input: DiscountCodeBasicInput!) { discountCodeBasicCreate("
            "basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { field code } } }",
            {"input": {"title": "", "code": "A", "customerGets": {"value": {"percentage": 10}}}},
        )["discountCodeBasicCreate"]
    assert bad["codeDiscountNode"] is None
    fields = {tuple(error["field"]) for error in bad["userErrors"]}
    assert ("basicCodeDiscount", "title") in fields and ("basicCodeDiscount", "startsAt") in fields


def test_a_small_bucket_paces_the_job_without_being_throttled(
    app_database: str, session: Session
) -> None:
    with FakeShopify(token=TOKEN, bucket=20, restore_rate=10) as fake:
        ids = _customers(session, 300)
        reserve_codes(session, dict.fromkeys(ids), "RC-", NOW)
        session.commit()
        with _client(fake) as client:
            client._sleep = time.sleep  # real waits: the bucket refills by the clock
            summary = create_pending_codes(client, _settings(), poll_seconds=0.01)
            assert summary.created == 300
            assert client.stats.throttled == 0 and fake.stats.throttled == 0
            assert client.stats.paced_seconds > 0


# --- the scan, delivery and the cart ---------------------------------------------------------


def _payload_codes(world: World) -> dict[int, str]:
    return {row.customer_id: row.payload["unique_code"] for row in world.outbox(kind="due")}


def test_two_customers_get_different_codes_in_their_events_and_carts(
    world: World,
    store: Store,
    app_database: str,
    shopify: FakeShopify,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPEATCART_UNIQUE_CODES", "1")  # the cart reads the switch itself
    get_settings.cache_clear()
    soap = store.product("Soap", 1200)
    store.session.execute(update(Shop).values(discount_code="REORDER10"))
    store.session.commit()
    ava, ben = store.customer(gid=1), store.customer(email="ben@example.com", gid=2)
    for person in (ava, ben):
        store.due(person, soap)
        store.link(person)

    world.scan(**ONLY_POSTSCRIPT)
    codes = _payload_codes(world)
    assert len(set(codes.values())) == 2
    # not created yet: delivery waits rather than send the global code
    waiting = world.deliver(**ONLY_POSTSCRIPT)
    assert waiting.of("postscript").postponed == 2 and not world.events("postscript")

    _create(shopify)
    sent = world.deliver(NOW + timedelta(minutes=2), **ONLY_POSTSCRIPT)
    assert sent.of("postscript").sent == 2
    got = {e["properties"]["discount_code"] for e in world.events("postscript")}
    assert got == set(codes.values())

    with Session(get_engine(world.url)) as session:
        for person in (ava, ben):
            token = get_or_create_link(session, person.id).token
            view = load_cart(session, token, NOW)
            assert view is not None and view.shop.discount_code == codes[person.id]
    # a rescan of the same cycle keeps the codes; a new cycle (reordered) gets a new one
    world.scan(NOW + timedelta(minutes=20), **ONLY_POSTSCRIPT, full=True)
    with Session(get_engine(world.url)) as session:
        kept = reserve_codes(session, {ava.id: BOUGHT}, "RC-", NOW)
        renewed = reserve_codes(session, {ben.id: NOW + timedelta(hours=1)}, "RC-", NOW)
        session.commit()
        assert kept[ava.id] == codes[ava.id]
        assert renewed[ben.id] != codes[ben.id]
        assert len(set(session.exec(select(UniqueCode.code)).all())) == 3
    monkeypatch.setenv("REPEATCART_UNIQUE_CODES", "0")
    get_settings.cache_clear()
    with Session(get_engine(world.url)) as session:  # switched off: the shop's code again
        view = load_cart(session, get_or_create_link(session, ava.id).token, NOW)
        assert view is not None and view.shop.discount_code == "REORDER10"


def test_delivery_sends_the_global_code_when_the_code_is_late_or_failed(
    world: World, store: Store, app_database: str
) -> None:
    soap = store.product("Soap", 1200)
    store.session.execute(update(Shop).values(discount_code="REORDER10"))
    store.session.commit()
    ava = store.customer(gid=1)
    store.due(ava, soap)
    store.link(ava)
    world.scan(**ONLY_POSTSCRIPT)

    late = world.deliver(NOW + CODE_WAIT + timedelta(seconds=1), **ONLY_POSTSCRIPT)

    assert late.of("postscript").sent == 1
    assert world.events("postscript")[0]["properties"]["discount_code"] == "REORDER10"
    with Session(get_engine(world.url)) as session:
        token = get_or_create_link(session, ava.id).token
        view = load_cart(session, token, NOW)
        assert view is not None and view.shop.discount_code == "REORDER10"


def test_the_scan_reserves_nothing_when_switched_off(world: World, store: Store) -> None:
    soap = store.product("Soap", 1200)
    ava = store.customer(gid=1)
    store.due(ava, soap)
    world.scan(klaviyo_api_key="", attentive_api_key="")
    assert "unique_code" not in world.outbox(kind="due")[0].payload
    assert not _codes(store.session)


# --- the Cart page's settings -----------------------------------------------------------------


def test_the_cart_page_saves_and_checks_the_code_settings(session: Session) -> None:
    session.add(Shop(shop_domain="evergreen.myshopify.com"))
    session.commit()
    form = {
        "unique_codes": "on",
        "unique_code_kind": "fixed",
        "unique_code_value": "4.50",
        "unique_code_prefix": "back-",
        "unique_code_days": "10",
    }
    assert save_cart_settings(session, form).saved
    stored = load_cart_settings(session)
    assert (stored.unique_codes, stored.unique_code_kind, stored.unique_code_value) == (
        True,
        "fixed",
        450,
    )
    assert (stored.unique_code_prefix, stored.unique_code_days) == ("BACK-", 10)
    bad = save_cart_settings(
        session,
        {**form, "unique_code_kind": "percentage", "unique_code_value": "150",
         "unique_code_prefix": "no spaces", "unique_code_days": "0"},
    )  # fmt: skip
    assert not bad.saved
    assert set(bad.errors) == {"unique_code_value", "unique_code_prefix", "unique_code_days"}
    assert load_cart_settings(session).unique_code_value == 450  # nothing saved


def test_a_percentage_code_from_the_environment_is_checked() -> None:
    with pytest.raises(ValueError, match="percentage"):
        Settings(unique_code_kind="percentage", unique_code_value=150)
