"""The provider registry: each provider once, its settings real, its client built from them."""

from __future__ import annotations

import pytest

from services.core.config import Settings
from services.messaging import (
    PROVIDER_NAMES,
    PROVIDERS,
    AttentiveClient,
    KlaviyoClient,
    PostscriptClient,
    Recipient,
    clients_from_settings,
    provider,
)

KEYS = {
    "klaviyo_api_key": "pk_test_key_1234",
    "postscript_api_key": "sk_test_key_5678",
    "attentive_api_key": "att_test_key_9012",
}


def test_each_provider_is_listed_once_with_settings_that_exist() -> None:
    assert PROVIDER_NAMES == ("klaviyo", "postscript", "attentive")
    fields = Settings.model_fields
    for p in PROVIDERS:
        assert p.client.provider == p.name
        for name in (p.key_setting, p.enabled_setting, p.base_url_setting):
            assert name in fields, name
        assert set(p.client_settings.values()) <= set(fields)
    with pytest.raises(KeyError, match="mailchimp"):
        provider("mailchimp")


def test_postscript_alone_has_no_profile_to_write() -> None:
    assert [p.name for p in PROVIDERS if p.writes_profile] == ["klaviyo", "attentive"]


def test_what_each_provider_accepts() -> None:
    """Postscript alone cannot use Shopify's customer id: it keys people by email or phone."""
    shopify_id_only = Recipient(email=None, phone=None, external_id="6543210")
    bad_phone_only = Recipient(email=None, phone="12", external_id=None)
    assert [p.name for p in PROVIDERS if p.accepts(shopify_id_only)] == ["klaviyo", "attentive"]
    assert [p.name for p in PROVIDERS if p.accepts(bad_phone_only)] == []


def test_clients_are_built_from_the_settings_of_enabled_providers() -> None:
    settings = Settings.model_validate(
        {
            **KEYS,
            "klaviyo_base_url": "http://127.0.0.1:9/klaviyo",
            "klaviyo_revision": "2030-01-01",
            "postscript_enabled": False,
        }
    )
    clients = clients_from_settings(settings)
    try:
        assert [type(c) for c in clients] == [KlaviyoClient, AttentiveClient]
        klaviyo = clients[0]
        assert isinstance(klaviyo, KlaviyoClient)
        assert klaviyo.revision == "2030-01-01"
        assert "127.0.0.1:9/klaviyo" in repr(klaviyo)
    finally:
        for client in clients:
            client.close()
    postscript = provider("postscript").build(settings)
    assert isinstance(postscript, PostscriptClient)
    postscript.close()
    assert clients_from_settings(Settings()) == []
