"""A cart URL is answered with the page shell that already names the cart page's code."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.conftest import RunningApp

pytestmark = pytest.mark.e2e


def test_a_cart_url_preloads_the_cart_route_module(running_app: RunningApp) -> None:
    response = httpx.get(running_app.cart("due"), timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    preloads = re.findall(r'rel="modulepreload" href="([^"]+)"', response.text)
    assert any("_cart_.__token_._index" in href for href in preloads), preloads
    assert len(preloads) == len(set(preloads))

    home = httpx.get(f"{running_app.base_url}/", timeout=10).text
    assert "_cart_.__token_._index" not in home, "other pages keep their own shell"
    odd = httpx.get(f"{running_app.base_url}/cart/{'x' * 300}", timeout=10)
    assert odd.status_code == 200 and "_cart_.__token_._index" in odd.text
