"""Admin users, sessions and the sign-in throttle, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select

from services.auth import admins as auth
from services.auth.admins import AuthError, create_admin, session_user, sign_in, sign_out
from services.cli import main
from services.core.clock import utcnow
from services.core.config import get_settings
from services.core.db import get_engine, migrate
from services.core.tables import AdminSession, AdminUser, LoginThrottle

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def admin(session: Session) -> AdminUser:
    user, created = create_admin(session, " Owner@Example.com ", PASSWORD, NOW)
    session.commit()
    assert created
    return user


def _refused(session: Session, email: str, password: str, **kwargs) -> str:
    with pytest.raises(AuthError) as refusal:
        sign_in(session, email, password, NOW, **kwargs)
    session.commit()
    return str(refusal.value)


def test_only_an_argon2_hash_is_stored(session: Session, admin: AdminUser) -> None:
    stored = session.exec(select(AdminUser)).one()
    assert stored.email == "owner@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


def test_sign_in_opens_a_session_stored_as_a_hash(session: Session, admin: AdminUser) -> None:
    token = sign_in(session, "OWNER@example.com", PASSWORD, NOW)
    session.commit()
    row = session.exec(select(AdminSession)).one()
    assert token not in row.token_hash and len(row.token_hash) == 64
    signed_in = session_user(session, token, NOW + timedelta(minutes=5))
    assert signed_in is not None and signed_in.email == "owner@example.com"
    assert session_user(session, "not-a-token", NOW) is None
    assert session_user(session, "", NOW) is None


def test_wrong_password_and_unknown_email_get_the_same_answer(
    session: Session, admin: AdminUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real_verify = auth.verify_password
    monkeypatch.setattr(
        auth, "verify_password", lambda h, p: verified.append(h) or real_verify(h, p)
    )
    wrong = _refused(session, "owner@example.com", "wrong password!")
    unknown = _refused(session, "nobody@example.com", PASSWORD)
    assert wrong == unknown == auth.REFUSED
    # the unknown email is checked against a hash too, so it costs the same argon2 work
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)
    assert session.exec(select(AdminSession)).all() == []


def _fail_until_throttled(
    session: Session, email: str, client: str, start: datetime
) -> tuple[datetime, auth.Throttled]:
    """Guess wrong from `client` until a wait is imposed; returns the time and the refusal."""
    when = start
    for _ in range(auth.FREE_FAILURES_PER_PAIR + 1):
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, email, "guess guess", when, client=client)
        session.commit()
    with pytest.raises(auth.Throttled) as refusal:
        sign_in(session, email, PASSWORD, when, client=client)
    return when, refusal.value


def test_each_further_failure_doubles_the_wait_up_to_the_cap(
    session: Session, admin: AdminUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = "192.0.2.10"
    when, refusal = _fail_until_throttled(session, "owner@example.com", client, NOW)
    assert refusal.retry_after == auth.FIRST_WAIT
    assert str(refusal) == f"{auth.THROTTLED} Try again in 5 seconds."
    waits = [refusal.retry_after]
    hashed: list[str] = []
    real_verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: hashed.append(h) or real_verify(h, p))
    while waits[-1] < auth.MAX_WAIT:
        # refused unchecked (no argon2 work) until the wait is over, even the right password
        with pytest.raises(auth.Throttled):
            sign_in(session, "owner@example.com", PASSWORD, when + waits[-1] / 2, client=client)
        assert hashed == []
        when += waits[-1]
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, "owner@example.com", "guess again", when, client=client)
        session.commit()
        hashed.clear()
        with pytest.raises(auth.Throttled) as refusal:
            sign_in(session, "owner@example.com", PASSWORD, when, client=client)
        waits.append(refusal.value.retry_after)
    assert waits == [min(auth.FIRST_WAIT * 2**step, auth.MAX_WAIT) for step in range(len(waits))]
    assert "Try again in 15 minutes." in str(refusal.value)
    # guessing on at the cap, each wait's end plus a moment, keeps the count: still capped
    for _ in range(3):
        when += auth.MAX_WAIT + timedelta(seconds=1)
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, "owner@example.com", "guess again", when, client=client)
        session.commit()
        with pytest.raises(auth.Throttled) as refusal:
            sign_in(session, "owner@example.com", PASSWORD, when, client=client)
        assert refusal.value.retry_after == auth.MAX_WAIT
    # after the wait the right password signs in, and the count starts again
    later = when + auth.MAX_WAIT
    token = sign_in(session, "owner@example.com", PASSWORD, later, client=client)
    session.commit()
    assert session_user(session, token, later) is not None
    assert session.get(LoginThrottle, f"pair:{client}|owner@example.com") is None


def test_a_client_without_failures_is_never_refused_while_another_hammers_the_email(
    session: Session, admin: AdminUser
) -> None:
    attacker, when = "203.0.113.7", NOW
    merchants = ("198.51.100.2", "2001:db8:aa:bb::5", "")
    for attempt in range(12):
        try:
            sign_in(session, "owner@example.com", "guess guess", when, client=attacker)
        except auth.Throttled as refusal:
            when += refusal.retry_after
        except AuthError:
            pass
        session.commit()
        # meanwhile the merchant, elsewhere, signs in at once
        merchant = merchants[attempt % len(merchants)]
        assert sign_in(session, "owner@example.com", PASSWORD, when, client=merchant)
        session.commit()
    with pytest.raises(auth.Throttled):
        sign_in(session, "owner@example.com", PASSWORD, when, client=attacker)


def test_ipv6_clients_count_by_their_64(session: Session, admin: AdminUser) -> None:
    assert auth.client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert auth.client_network("::ffff:192.0.2.1") == "192.0.2.1"
    assert auth.client_network(" 192.0.2.1 ") == "192.0.2.1"
    assert auth.client_network("fe80::1%eth0") == "fe80::/64"
    assert auth.client_network("not an address") == "not an address"
    # each guess from another address of the same /64: counted together
    for number in range(auth.FREE_FAILURES_PER_PAIR + 1):
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, "owner@example.com", "guess", NOW, client=f"2001:db8:1:2::{number}")
        session.commit()
    with pytest.raises(auth.Throttled):
        sign_in(session, "owner@example.com", PASSWORD, NOW, client="2001:db8:1:2:ffff::9")
    assert sign_in(session, "owner@example.com", PASSWORD, NOW, client="2001:db8:1:3::1")


def test_failures_spread_over_time_do_not_lock(session: Session, admin: AdminUser) -> None:
    for step in range(auth.FREE_FAILURES_PER_PAIR * 3):
        when = NOW + step * (auth.FAILURE_WINDOW + timedelta(seconds=1))
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, "owner@example.com", "guess guess", when, client="192.0.2.10")
        session.commit()


def test_one_client_guessing_many_emails_is_slowed(session: Session, admin: AdminUser) -> None:
    for number in range(auth.FREE_FAILURES_PER_CLIENT + 1):
        _refused(session, f"guess{number}@example.com", "guess guess", client="10.0.0.9")
    with pytest.raises(auth.Throttled):
        sign_in(session, "owner@example.com", PASSWORD, NOW, client="10.0.0.9")
    assert sign_in(session, "owner@example.com", PASSWORD, NOW, client="10.0.0.10")


def test_sessions_expire(session: Session, admin: AdminUser) -> None:
    token = sign_in(session, "owner@example.com", PASSWORD, NOW, session_length=timedelta(hours=1))
    session.commit()
    assert session_user(session, token, NOW + timedelta(minutes=59)) is not None
    assert session_user(session, token, NOW + timedelta(hours=1)) is None


def test_sign_out_revokes_only_that_session(session: Session, admin: AdminUser) -> None:
    first = sign_in(session, "owner@example.com", PASSWORD, NOW)
    second = sign_in(session, "owner@example.com", PASSWORD, NOW)
    sign_out(session, first, NOW + timedelta(minutes=1))
    session.commit()
    assert session_user(session, first, NOW + timedelta(minutes=2)) is None
    assert session_user(session, second, NOW + timedelta(minutes=2)) is not None


def test_a_new_password_signs_out_everywhere(session: Session, admin: AdminUser) -> None:
    token = sign_in(session, "owner@example.com", PASSWORD, NOW)
    user, created = create_admin(session, "owner@example.com", "another long one", NOW)
    session.commit()
    assert not created
    assert session_user(session, token, NOW) is None
    _refused(session, "owner@example.com", PASSWORD)
    assert sign_in(session, "owner@example.com", "another long one", NOW)


def test_purge_removes_ended_sessions_and_idle_throttles_only(
    session: Session, admin: AdminUser
) -> None:
    live = sign_in(session, "owner@example.com", PASSWORD, NOW)
    expired = sign_in(
        session, "owner@example.com", PASSWORD, NOW - timedelta(hours=13)
    )  # 12 h sessions
    signed_out = sign_in(session, "owner@example.com", PASSWORD, NOW)
    sign_out(session, signed_out, NOW)
    _fail_until_throttled(session, "waiting@example.com", "192.0.2.1", NOW)  # must stay
    # its wait ended moments ago: forgetting it now would hand out free guesses again
    capped = NOW - auth.FAILURE_WINDOW - timedelta(minutes=1)
    session.add(
        LoginThrottle(
            key="pair:192.0.2.2|capped@example.com",
            failures=12,
            window_started_at=capped,
            locked_until=capped + auth.MAX_WAIT,
        )
    )
    old = NOW - auth.FAILURE_WINDOW - timedelta(minutes=1)
    with pytest.raises(AuthError):
        sign_in(session, "idle@example.com", "wrong password!", old, client="192.0.2.3")
    session.commit()

    purged = auth.purge_stale(session, NOW)
    session.commit()

    assert (purged.sessions, purged.throttles) == (2, 2)  # idle's pair and client rows
    assert session_user(session, live, NOW) is not None
    assert session_user(session, expired, NOW) is None
    assert sorted(row.key for row in session.exec(select(LoginThrottle))) == [
        "client:192.0.2.1",
        "pair:192.0.2.1|waiting@example.com",
        "pair:192.0.2.2|capped@example.com",
    ]


def test_short_passwords_and_bad_emails_are_refused(session: Session) -> None:
    with pytest.raises(AuthError, match="at least"):
        create_admin(session, "owner@example.com", "short", NOW)
    with pytest.raises(AuthError, match="Not an email"):
        create_admin(session, "owner", PASSWORD, NOW)


# --- the command line ----------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REPEATCART_DATABASE_URL", url)
    monkeypatch.setenv("REPEATCART_PUBLIC_URL", "https://carts.example.com")
    get_settings.cache_clear()
    yield url
    get_engine(url).dispose()
    get_settings.cache_clear()


def test_create_admin_reads_the_password_from_stdin(cli_db, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["create-admin", "Owner@Example.com"]) == 0
    assert "Admin owner@example.com created" in capsys.readouterr().out
    with Session(get_engine(cli_db)) as session:
        assert sign_in(session, "owner@example.com", PASSWORD, NOW)


def test_create_admin_refuses_a_short_password(cli_db, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-admin", "owner@example.com"]) == 1
    assert "at least" in capsys.readouterr().err
    with Session(get_engine(cli_db)) as session:
        assert session.exec(select(AdminUser)).all() == []


def test_demo_prints_an_admin_who_can_sign_in(cli_db, capsys) -> None:
    assert main(["demo", "--customers", "60", "--json"]) == 0
    admin = json.loads(capsys.readouterr().out)["admin"]
    assert admin["url"] == "https://carts.example.com/admin"
    assert admin["email"] == "admin@demo-repeatcart.myshopify.com"
    with Session(get_engine(cli_db)) as session:
        stored = session.exec(select(AdminUser)).one()
        assert admin["password"] not in stored.password_hash
        assert sign_in(session, admin["email"], admin["password"], NOW)
    # kept as it is: the password is not known any more, only its hash
    assert main(["demo", "--if-empty", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)["admin"]
    assert again == {**admin, "password": None}


# --- the sign-in handler -------------------------------------------------------------------


def test_the_sign_in_handler_checks_the_password_off_the_event_loop(cli_db, monkeypatch) -> None:
    from repeatcart_app.state.auth import LoginState

    migrate(cli_db)
    with Session(get_engine(cli_db)) as session:
        create_admin(session, "owner@example.com", PASSWORD, utcnow())
        session.commit()
    on_loop: list[bool] = []
    real_verify = auth.verify_password

    def verify(password_hash: str, password: str) -> bool:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", verify)
    tab = SimpleNamespace(
        router=SimpleNamespace(session=SimpleNamespace(client_ip="192.0.2.5")),
        error="",
        session_token="",
        current_email="",
    )

    def submit(password: str):
        form = {"email": "Owner@Example.com", "password": password}
        return asyncio.run(LoginState.sign_in.fn(tab, form))

    assert submit("wrong password!") is None
    assert tab.error == auth.REFUSED and tab.session_token == ""
    with Session(get_engine(cli_db)) as session:  # the failure was kept, for this client
        assert session.get(LoginThrottle, "pair:192.0.2.5|owner@example.com") is not None

    events = submit(PASSWORD)
    assert on_loop == [False, False]  # argon2 ran in a thread both times
    assert tab.error == "" and tab.current_email == "owner@example.com"
    with Session(get_engine(cli_db)) as session:
        assert session_user(session, tab.session_token, utcnow()) is not None
    # the public URL is https: the cookie is written again with Secure, then home
    script, home = events
    assert f"repeatcart_admin={tab.session_token}" in str(script) and "Secure" in str(script)
    assert "/admin" in str(home)
