"""Admin users, sessions and the sign-in throttle, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from services import auth
from services.auth import AuthError, create_admin, session_user, sign_in, sign_out
from services.cli import main
from services.config import get_settings
from services.db import get_engine
from services.models import AdminSession, AdminUser, LoginThrottle

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


def test_failures_lock_the_email_until_the_window_passes(
    session: Session, admin: AdminUser
) -> None:
    for _ in range(auth.MAX_FAILURES_PER_EMAIL):
        assert _refused(session, "owner@example.com", "guess guess") == auth.REFUSED
    # now even the right password is refused, from any client
    assert _refused(session, "owner@example.com", PASSWORD) == auth.THROTTLED
    later = NOW + auth.LOCKOUT + timedelta(seconds=1)
    token = sign_in(session, "owner@example.com", PASSWORD, later)
    session.commit()
    assert session_user(session, token, later) is not None
    # a success clears the count
    assert session.get(LoginThrottle, "email:owner@example.com") is None


def test_failures_spread_over_time_do_not_lock(session: Session, admin: AdminUser) -> None:
    for step in range(auth.MAX_FAILURES_PER_EMAIL * 2):
        when = NOW + step * (auth.FAILURE_WINDOW / 2 + timedelta(seconds=1))
        with pytest.raises(AuthError, match=auth.REFUSED):
            sign_in(session, "owner@example.com", "guess guess", when)
        session.commit()


def test_one_client_guessing_many_emails_is_locked(session: Session, admin: AdminUser) -> None:
    for number in range(auth.MAX_FAILURES_PER_CLIENT):
        _refused(session, f"guess{number}@example.com", "guess guess", client="10.0.0.9")
    assert _refused(session, "owner@example.com", PASSWORD, client="10.0.0.9") == auth.THROTTLED
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
    for _ in range(auth.MAX_FAILURES_PER_EMAIL):  # locked now: must stay
        _refused(session, "locked@example.com", "wrong password!")
    old = NOW - auth.FAILURE_WINDOW - timedelta(minutes=1)
    with pytest.raises(AuthError):
        sign_in(session, "idle@example.com", "wrong password!", old)
    session.commit()

    purged = auth.purge_stale(session, NOW)
    session.commit()

    assert (purged.sessions, purged.throttles) == (2, 1)
    assert session_user(session, live, NOW) is not None
    assert session_user(session, expired, NOW) is None
    assert [row.key for row in session.exec(select(LoginThrottle))] == ["email:locked@example.com"]


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
