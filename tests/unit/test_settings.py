"""Secret settings never show in a repr, a log line or a dump; they are read where used."""

from __future__ import annotations

import logging

import pytest

from services.core.config import Settings

SECRETS = {
    "shopify_token": "shpat_top_secret_0001",
    "shopify_webhook_secret": "whsec_top_secret_0002",
    "klaviyo_api_key": "pk_top_secret_0003",
    "postscript_api_key": "sk_top_secret_0004",
    "attentive_api_key": "att_top_secret_0005",
    "secret_key": "fernet_top_secret_0006",
}


def test_secrets_stay_out_of_reprs_dumps_and_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(**SECRETS)
    with caplog.at_level(logging.INFO):
        logging.getLogger("repeatcart.test").info("settings: %s / %r", settings, settings)
    shown = [repr(settings), str(settings), settings.model_dump_json(), caplog.text]
    for value in SECRETS.values():
        assert not any(value in text for text in shown), value


def test_secrets_are_read_where_they_are_used() -> None:
    settings = Settings(**SECRETS)
    assert {name: settings.secret(name) for name in SECRETS} == SECRETS
    assert Settings().secret("shopify_token") == ""


def test_the_environment_of_settings_rebuilds_the_same_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(**SECRETS, public_url="https://carts.example.com", delivery_seconds=5)
    for name, value in settings.environment().items():
        monkeypatch.setenv(name, value)
    again = Settings()
    assert {name: again.secret(name) for name in SECRETS} == SECRETS
    assert (again.public_url, again.delivery_seconds) == ("https://carts.example.com", 5)
