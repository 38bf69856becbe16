"""Each Moment switched on or off per integration, from the environment or the dashboard.

Off, a Moment is not queued for that integration and what was still pending is skipped (not
sent late); the other integrations and the other Moments are untouched. On again, the next scan
sweeps the look-back window, as for a newly enabled integration.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from services.core.config import Settings
from services.core.db import get_engine
from services.dispatch import DispatchSummary, scan_due
from services.settings.effective import effective_settings
from services.settings.integrations import integration_views, set_moment
from tests.integration.dispatch_world import NOW, PROVIDERS, Store, World


def _effective(world: World) -> Settings:
    """The worker's view: the environment with the dashboard's saved switches applied."""
    with Session(get_engine(world.url)) as session:
        return effective_settings(session, world.settings())


def _scan(world: World, settings: Settings, at=NOW) -> DispatchSummary:
    with Session(get_engine(world.url), expire_on_commit=False) as session:
        return scan_due(session, settings, at)


def _kinds(world: World, integration: str) -> list[str]:
    return sorted(
        row.kind for row in world.outbox(integration=integration) if row.kind != "cart_url"
    )


def test_a_moment_switched_off_in_the_environment_is_not_queued_there(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    summary = world.scan(postscript_moments_off="due")
    assert summary.of("postscript").queued == 0
    assert summary.of("klaviyo").queued >= 1 and summary.of("attentive").queued >= 1
    assert _kinds(world, "postscript") == []
    assert _kinds(world, "klaviyo") == _kinds(world, "attentive") == ["due"]
    world.deliver(postscript_moments_off="due")
    assert world.events("postscript") == []
    assert len(world.events("attentive")) == 1


def test_switching_off_on_the_dashboard_skips_what_is_still_pending(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    world.scan()
    assert _kinds(world, "klaviyo") == ["due"]

    set_moment("klaviyo", "due", False, by="owner@shop.test", base=world.settings())
    settings = _effective(world)
    summary = world.deliver(**{"klaviyo_moments_off": settings.klaviyo_moments_off})
    assert summary.of("klaviyo").skipped["Moment switched off"] == 1
    [row] = [r for r in world.outbox(integration="klaviyo") if r.kind == "due"]
    assert (row.status, row.skip_reason) == ("skipped", "Moment switched off")
    assert [e for e in world.events("klaviyo") if "metric" in str(e)] == []
    assert len(world.events("postscript")) == 1  # the others were sent as usual

    # on again: the skipped row is not sent late, and no second row is queued for the cycle
    set_moment("klaviyo", "due", True, base=world.settings())
    _scan(world, _effective(world), NOW + timedelta(minutes=15))
    world.deliver(NOW + timedelta(minutes=15))
    assert [r.status for r in world.outbox(integration="klaviyo") if r.kind == "due"] == ["skipped"]


def test_a_moment_switched_back_on_catches_up_inside_the_look_back_window(
    world: World, store: Store
) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"))
    set_moment("attentive", "due", False, base=world.settings())
    _scan(world, _effective(world))
    assert _kinds(world, "attentive") == []
    # a tick a little later would only look at what changed since; the switch forces a sweep
    set_moment("attentive", "due", True, base=world.settings())
    summary = _scan(world, _effective(world), NOW + timedelta(minutes=15))
    assert summary.of("attentive").queued == 1
    assert _kinds(world, "attentive") == ["due"]


def test_late_stops_with_due_and_the_other_moments_go_on(world: World, store: Store) -> None:
    ava = store.customer()
    store.due(ava, store.product("Soap"), late=40)  # late at NOW + 10 days
    off = {"postscript_moments_off": "due"}
    world.scan(**off)
    world.deliver(**off)
    late = NOW + timedelta(days=10, hours=1)
    world.scan(late, **off)
    assert _kinds(world, "postscript") == []
    assert _kinds(world, "klaviyo") == ["due", "late"]


def test_the_dashboard_shows_each_integrations_switches(world: World) -> None:
    set_moment("postscript", "lapse", False, base=world.settings())
    set_moment("postscript", "late", False, base=world.settings())
    views = {view.name: view for view in integration_views(world.settings())}
    assert views["postscript"].moments_off == {"late", "lapse"}
    assert views["klaviyo"].moments_off == frozenset()
    assert _effective(world).postscript_moments_off == "lapse,late"  # sorted, one spelling
    with pytest.raises(ValueError, match="unknown Moment"):
        set_moment("postscript", "birthday", False, base=world.settings())


def test_an_unknown_moment_in_the_environment_fails_at_start_with_the_known_names() -> None:
    with pytest.raises(ValidationError, match=r"unknown Moment 'lapes'.*due, late, lapse"):
        Settings(klaviyo_moments_off="due, lapes")  # type: ignore[call-arg]
    assert Settings(klaviyo_moments_off=" Lapse ,due").klaviyo_moments_off == "due,lapse"  # type: ignore[call-arg]


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_provider_has_its_own_switches(name: str) -> None:
    assert f"{name}_moments_off" in Settings.model_fields
