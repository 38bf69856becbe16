"""The shared demo app in scale-out mode (`REPEATCART_E2E_SCALE_OUT=1`, a CI run): PostgreSQL,
shoppers' state in Redis, two backend workers. The cart and snooze tests run against it too;
this checks that the mode is what it says."""

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Page

from tests.e2e.app_process import SCALE_OUT_ENV, scale_out
from tests.e2e.conftest import RunningApp
from tests.e2e.test_cart_page import open_cart

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not scale_out(), reason=f"runs in scale-out mode only ({SCALE_OUT_ENV}=1)"),
]


def test_the_app_keeps_shoppers_state_in_redis_on_postgresql(
    page: Page, running_app: RunningApp
) -> None:
    assert running_app.database_url.startswith("postgresql")
    assert running_app.redis_url
    store = redis.Redis.from_url(running_app.redis_url)
    before = store.dbsize()
    open_cart(page, running_app.cart("due"))
    assert store.dbsize() > before, "a new shopper's state should be stored in Redis"
    store.close()
