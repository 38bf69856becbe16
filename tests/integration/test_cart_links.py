"""One live cart link per customer: enforced by the database, kept by every way links are made."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from services.cart import links as carts
from services.cart.links import get_or_create_link, new_token, rotate_link
from services.core.clock import utcnow
from services.core.config import PROJECT_ROOT
from services.core.db import get_engine, migrate
from services.core.tables import CartLink, Customer
from tests.concurrency import at_once

LIVE_INDEX = "ux_cart_link_live_customer"


def add_customer(url: str, email: str = "ava@example.com") -> int:
    with Session(get_engine(url)) as session:
        customer = Customer(email=email)
        session.add(customer)
        session.commit()
        assert customer.id is not None
        return customer.id


def live_links(url: str, customer_id: int) -> list[CartLink]:
    with Session(get_engine(url)) as session:
        return list(
            session.exec(
                select(CartLink).where(
                    CartLink.customer_id == customer_id,
                    CartLink.revoked_at.is_(None),  # type: ignore[union-attr]
                )
            )
        )


def race(url: str, work: Callable[[Session], CartLink], threads: int = 2) -> list[str]:
    """Run `work` in `threads` threads at once, each in its own session; their tokens."""

    def one() -> str:
        with Session(get_engine(url), expire_on_commit=False) as session:
            link = work(session)
            session.commit()
            return link.token

    return at_once(one, threads)


def test_the_database_refuses_a_second_live_link(session: Session) -> None:
    customer = Customer(email="ava@example.com")
    session.add(customer)
    session.flush()
    session.add(CartLink(customer_id=customer.id, token=new_token(), revoked_at=utcnow()))
    session.add(CartLink(customer_id=customer.id, token=new_token()))
    session.flush()  # revoked links may pile up beside the live one
    session.add(CartLink(customer_id=customer.id, token=new_token()))
    with pytest.raises(IntegrityError):
        session.flush()


def test_rotating_revokes_the_link_and_issues_the_one_live_link(session: Session) -> None:
    customer = Customer(email="ava@example.com")
    session.add(customer)
    session.flush()
    assert customer.id is not None
    old = get_or_create_link(session, customer.id)
    assert get_or_create_link(session, customer.id).id == old.id
    new = rotate_link(session, customer.id)
    session.commit()
    links = session.exec(select(CartLink).where(CartLink.customer_id == customer.id)).all()
    assert {link.id: link.revoked_at is None for link in links} == {old.id: False, new.id: True}


def test_two_processes_creating_a_link_at_once_get_the_same_one(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both look, both find no link, both insert: the second yields to the first's link."""
    customer_id = add_customer(database_url)
    both_looked = threading.Barrier(2, timeout=30)
    looked: set[int] = set()
    look = carts.active_link_for

    def look_then_wait(session: Session, cid: int) -> CartLink | None:
        found = look(session, cid)
        if threading.get_ident() not in looked:  # the first look of each thread
            looked.add(threading.get_ident())
            both_looked.wait()
        return found

    monkeypatch.setattr(carts, "active_link_for", look_then_wait)
    tokens = race(database_url, lambda session: get_or_create_link(session, customer_id))
    assert tokens[0] == tokens[1]
    assert [link.token for link in live_links(database_url, customer_id)] == tokens[:1]


def test_rotations_racing_leave_one_live_link(database_url: str) -> None:
    customer_id = add_customer(database_url)
    with Session(get_engine(database_url)) as session:
        old = get_or_create_link(session, customer_id).token
        session.commit()
    tokens = race(database_url, lambda session: rotate_link(session, customer_id), threads=3)
    live = live_links(database_url, customer_id)
    assert len(live) == 1 and live[0].token != old
    assert live[0].token in tokens, "a rotation hands out the live link, never a revoked one"


def _alembic(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["database_url"] = url
    return config


def test_the_migration_keeps_only_the_newest_live_link(database_url: str) -> None:
    config = _alembic(database_url)
    before = ScriptDirectory.from_config(config).get_revision("0011").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    ava, bo = add_customer(database_url), add_customer(database_url, "bo@example.com")
    now = utcnow()
    rows = [
        (ava, now - timedelta(days=3), now - timedelta(days=2)),  # revoked long ago
        (ava, now - timedelta(days=2), None),
        (ava, now - timedelta(days=1), None),
        (ava, now, None),  # the newest live one
        (bo, now - timedelta(days=5), None),
    ]
    with get_engine(database_url).begin() as connection:
        ids = [
            connection.execute(
                insert(CartLink.__table__)  # type: ignore[attr-defined]
                .values(customer_id=cid, token=new_token(), created_at=made, revoked_at=revoked)
                .returning(CartLink.__table__.c.id)  # type: ignore[attr-defined]
            ).scalar_one()
            for cid, made, revoked in rows
        ]

    migrate(database_url)

    assert [link.id for link in live_links(database_url, ava)] == [ids[3]]
    assert [link.id for link in live_links(database_url, bo)] == [ids[4]]
    with Session(get_engine(database_url)) as session:
        kept = session.get(CartLink, ids[0])
        assert kept is not None and kept.revoked_at == now - timedelta(days=2)
    indexes = {
        index["name"] for index in inspect(get_engine(database_url)).get_indexes("cart_link")
    }
    assert LIVE_INDEX in indexes
