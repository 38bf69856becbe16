"""The Integrations page's services: keys, on/off, test events over HTTP, the delivery log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from services.core.config import Settings
from services.core.tables import Customer, IntegrationStatus, OutboxMessage
from services.dispatch import key_fingerprint
from services.settings.effective import effective_settings
from services.settings.integrations import (
    delivery_log,
    integration_views,
    remove_key,
    resume,
    retry_delivery,
    save_integration,
    send_test_event,
    set_enabled,
)
from tests.fakes.messaging import serve_messaging_fakes
from tests.fakes.provider import ProviderFake

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, tuple[ProviderFake, str]]]:
    with serve_messaging_fakes() as served:
        yield served


@pytest.fixture
def base(database_url: str, fakes) -> Iterator[Settings]:
    for fake, _url in fakes.values():
        fake.reset()
    yield Settings(
        database_url=database_url,
        secret_key=Fernet.generate_key().decode(),
        public_url="https://carts.example.com",
        klaviyo_base_url=fakes["klaviyo"][1],
        postscript_base_url=fakes["postscript"][1],
        attentive_base_url=fakes["attentive"][1],
    )


def _view(base, name):
    return next(view for view in integration_views(base) if view.name == name)


def test_a_saved_key_is_encrypted_and_shown_by_last4(session, base) -> None:
    ok, message = save_integration("klaviyo", "pk_live_secret_abcd1234", by="a@b.c", base=base)
    assert ok and message == "Key saved."
    raw = session.execute(text("SELECT value FROM app_setting WHERE name = 'klaviyo_api_key'"))
    assert "pk_live_secret" not in raw.scalar_one()
    view = _view(base, "klaviyo")
    assert (view.key_last4, view.key_source, view.enabled, view.active) == (
        "1234",
        "saved",
        True,
        True,
    )
    assert "pk_live_secret" not in repr(integration_views(base))


def test_blank_keeps_the_key_and_bad_keys_are_refused(session, base) -> None:
    save_integration("postscript", "sk_first_key_5678", base=base)
    ok, message = save_integration("postscript", "   ", base=base)
    assert not ok and "unchanged" in message
    ok, message = save_integration("postscript", "sk with space", base=base)
    assert not ok and "spaces" in message
    assert effective_settings(session, base).secret("postscript_api_key") == "sk_first_key_5678"
    with pytest.raises(KeyError):
        save_integration("mailchimp", "key_12345678", base=base)


def test_enable_disable_and_remove(session, base) -> None:
    env = base.model_copy(update={"attentive_api_key": "att_environment_0000"})
    save_integration("attentive", "att_saved_key_4321", base=env)
    set_enabled("attentive", False, base=env)
    view = _view(env, "attentive")
    assert not view.enabled and not view.active and view.key_last4 == "4321"
    assert effective_settings(session, env).attentive_enabled is False
    remove_key("attentive", base=env)
    set_enabled("attentive", True, base=env)
    view = _view(env, "attentive")
    assert (view.key_last4, view.key_source, view.enabled) == ("0000", "environment", True)


def test_a_new_key_resumes_an_integration_stopped_by_a_refused_key(session, base) -> None:
    save_integration("klaviyo", "pk_refused_key_0001", base=base)
    session.add(
        IntegrationStatus(
            name="klaviyo",
            key_fingerprint=key_fingerprint("pk_refused_key_0001"),
            auth_failed_at=NOW,
            last_error="klaviyo: POST /api/events rejected the API key (HTTP 401)",
        )
    )
    session.commit()
    assert "HTTP 401" in _view(base, "klaviyo").stopped
    # the same key again does not resume
    assert save_integration("klaviyo", "pk_refused_key_0001", base=base)[1] == (
        "That key is already saved."
    )
    assert _view(base, "klaviyo").stopped
    ok, message = save_integration("klaviyo", "pk_new_good_key_0002", base=base)
    assert ok and "resumes" in message
    assert _view(base, "klaviyo").stopped == ""
    session.expire_all()
    assert session.get(IntegrationStatus, "klaviyo").auth_failed_at is None


def test_try_the_same_key_again(session, base) -> None:
    save_integration("attentive", "att_key_with_scope_fixed", base=base)
    session.add(
        IntegrationStatus(
            name="attentive",
            key_fingerprint=key_fingerprint("att_key_with_scope_fixed"),
            auth_failed_at=NOW,
            last_error="attentive: rejected the API key (HTTP 403)",
        )
    )
    session.commit()
    assert _view(base, "attentive").stopped
    assert resume("attentive", base) is True
    assert _view(base, "attentive").stopped == ""
    assert resume("attentive", base) is False


def test_send_test_event_accepted_by_each_fake(base, fakes) -> None:
    for name, (fake, _url) in fakes.items():
        save_integration(name, fake.api_key, base=base)
    result = send_test_event("klaviyo", " owner@example.com ", base)
    assert result.ok, result.message
    assert "accepted the test event for owner@example.com" in result.message
    assert len(fakes["klaviyo"][0].events) == 1
    for name in ("postscript", "attentive"):
        result = send_test_event(name, "(415) 555-2671", base)
        assert result.ok, result.message
        assert "+14155552671" in result.message
        assert len(fakes[name][0].events) == 1


def test_send_test_event_with_a_refused_key(base, fakes, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fakes["klaviyo"][0]
    save_integration("klaviyo", fake.api_key, base=base)
    fake.invalid_key(401)
    result = send_test_event("klaviyo", "owner@example.com", base)
    assert result.outcome == "refused_key"
    assert "Klaviyo refused the key (HTTP 401)" in result.message
    assert fake.api_key not in result.message
    assert fake.api_key not in caplog.text  # nor in any log line


def test_send_test_event_rejects_bad_recipients_before_sending(session, base, fakes) -> None:
    fake = fakes["postscript"][0]
    save_integration("postscript", fake.api_key, base=base)
    for bad in ("12", "not a phone", ""):
        result = send_test_event("postscript", bad, base)
        assert result.outcome == "invalid" and "country code" in result.message
    result = send_test_event("klaviyo", "owner@", base)
    assert result.outcome == "invalid" and "email address" in result.message
    assert fake.requests == []
    no_key = send_test_event("attentive", "+14155552671", base)
    assert no_key.outcome == "invalid" and "No Attentive key" in no_key.message


def _outbox(session, count: int, failed_every: int = 3) -> None:
    customer = Customer(email="shopper@example.com")
    session.add(customer)
    session.flush()
    for i in range(count):
        failed = i % failed_every == 0
        session.add(
            OutboxMessage(
                integration="klaviyo",
                kind="due",
                customer_id=customer.id,
                idempotency_key=f"due-{customer.id}-{i}",
                payload={"secret": "never shown"},
                status="failed" if failed else "sent",
                attempts=8 if failed else 1,
                last_error="klaviyo: still failing after 6 attempts (HTTP 503)" if failed else "",
                created_at=NOW - timedelta(minutes=count - i),
            )
        )
    session.add(
        OutboxMessage(
            integration="postscript",
            kind="due",
            customer_id=customer.id,
            idempotency_key="due-other",
            status="failed",
            attempts=8,
        )
    )
    session.commit()


def test_delivery_log_pages_newest_first_and_filters_failures(session, base) -> None:
    _outbox(session, 45)
    first = delivery_log("klaviyo", page=1, page_size=20, base=base)
    assert (first.total, first.pages, len(first.rows)) == (45, 3, 20)
    assert first.counts["failed"] == 15 and first.counts["sent"] == 30
    assert first.rows[0].when > first.rows[-1].when
    assert first.rows[0].email == "shopper@example.com"
    last = delivery_log("klaviyo", page=9, page_size=20, base=base)  # clamped to the last page
    assert (last.page, len(last.rows)) == (3, 5)
    pages = [delivery_log("klaviyo", page=page, base=base) for page in (1, 2, 3)]
    ids = {row.id for log in pages for row in log.rows}
    assert len(ids) == 45
    failures = delivery_log("klaviyo", failures_only=True, page=1, page_size=10, base=base)
    assert (failures.total, failures.pages) == (15, 2)
    assert all(row.status == "failed" and "HTTP 503" in row.error for row in failures.rows)
    assert "never shown" not in repr(first)


def test_retry_requeues_one_integrations_failures(session, base) -> None:
    _outbox(session, 30)
    one = delivery_log("klaviyo", failures_only=True, base=base).rows[0]
    assert retry_delivery("klaviyo", [one.id], base) == 1
    assert retry_delivery("klaviyo", base=base) == 9
    counts = delivery_log("klaviyo", base=base).counts
    assert counts["failed"] == 0 and counts["pending"] == 10
    row = session.get(OutboxMessage, one.id)
    session.refresh(row)
    assert row.attempts == 0 and "HTTP 503" in row.last_error
    # another integration's failures are left alone
    assert delivery_log("postscript", base=base).counts["failed"] == 1
