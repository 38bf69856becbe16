"""The `repeatcart` command line against a real SQLite file."""

import json

import pytest

from services.cli import main
from services.core.config import get_settings
from services.core.db import get_engine


@pytest.fixture
def sqlite_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REPEATCART_DATABASE_URL", url)
    monkeypatch.setenv("REPEATCART_PUBLIC_URL", "https://carts.example.com")
    get_settings.cache_clear()
    yield url
    get_engine(url).dispose()
    get_settings.cache_clear()


def test_demo_json_prints_the_three_sample_carts(sqlite_env, capsys):
    assert main(["demo", "--customers", "60", "--json"]) == 0
    carts = json.loads(capsys.readouterr().out)["carts"]
    assert set(carts) == {"due", "not_due", "unavailable"}
    assert all(url.startswith("https://carts.example.com/cart/") for url in carts.values())


def test_if_empty_keeps_the_store_and_its_links(sqlite_env, capsys):
    assert main(["demo", "--customers", "60", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["carts"]
    assert main(["demo", "--if-empty", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["carts"] == first


def test_cart_link_prints_the_same_link_each_time(sqlite_env, capsys):
    main(["demo", "--customers", "60", "--json"])
    due_url = json.loads(capsys.readouterr().out)["carts"]["due"]
    assert main(["cart-link", " AVA.DUE@example.com "]) == 0
    assert capsys.readouterr().out.strip() == due_url


def test_cart_link_for_an_unknown_email_fails_clearly(sqlite_env, capsys):
    main(["migrate"])
    assert main(["cart-link", "nobody@example.com"]) == 1
    assert "no customer with email nobody@example.com" in capsys.readouterr().err
