"""Admin users, their sign-in sessions, and the throttle on guessed passwords.

Passwords are kept only as argon2id hashes. A session token is random, handed to the browser
once, and stored only as its sha256, so a copy of the database signs nobody in. Failed sign-ins
are counted in the database (not in memory) so the throttle holds across web processes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_
from sqlmodel import Session, select

from services.models import AdminSession, AdminUser, LoginThrottle

MIN_PASSWORD_LENGTH = 10
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)
DEFAULT_SESSION_LENGTH = timedelta(hours=12)

REFUSED = "Email or password is not right."
THROTTLED = "Too many failed sign-ins. Try again in a few minutes."

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both refusals cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(ValueError):
    """A refusal with a message meant for the person signing in."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    user_id: int
    email: str
    expires_at: datetime


def normalize_email(email: str) -> str:
    return email.strip().lower()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")


def create_admin(
    session: Session, email: str, password: str, now: datetime
) -> tuple[AdminUser, bool]:
    """Create an admin, or set a new password for an existing one (and sign them out
    everywhere). Returns the user and whether it was created. The caller commits."""
    email = normalize_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise AuthError(f"Not an email address: {email!r}")
    check_password_strength(password)
    user = session.exec(select(AdminUser).where(AdminUser.email == email)).first()
    created = user is None
    if user is None:
        user = AdminUser(email=email, password_hash=hash_password(password), created_at=now)
    else:
        user.password_hash = hash_password(password)
        for row in session.exec(
            select(AdminSession).where(
                AdminSession.user_id == user.id,
                AdminSession.revoked_at.is_(None),  # type: ignore[union-attr]
            )
        ):
            row.revoked_at = now
            session.add(row)
    session.add(user)
    session.flush()
    return user, created


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttle_keys(email: str, client: str) -> list[tuple[str, int]]:
    keys = [(f"email:{email}", MAX_FAILURES_PER_EMAIL)]
    if client:
        keys.append((f"client:{client}", MAX_FAILURES_PER_CLIENT))
    return keys


def _is_locked(session: Session, key: str, now: datetime) -> bool:
    row = session.get(LoginThrottle, key)
    return row is not None and row.locked_until is not None and row.locked_until > now


def _record_failure(session: Session, key: str, limit: int, now: datetime) -> None:
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now)
    if now - row.window_started_at > FAILURE_WINDOW:
        row.failures = 0
        row.window_started_at = now
        row.locked_until = None
    row.failures += 1
    if row.failures >= limit:
        row.locked_until = now + LOCKOUT
    session.add(row)


def sign_in(
    session: Session,
    email: str,
    password: str,
    now: datetime,
    *,
    client: str = "",
    session_length: timedelta = DEFAULT_SESSION_LENGTH,
) -> str:
    """Check the password and open a session; returns the new session token (shown once).

    Raises `AuthError` with the same message for an unknown email and a wrong password, and
    with `THROTTLED` while the email or the client is locked out. The caller commits, also
    after a refusal (the failure count must be kept).
    """
    email = normalize_email(email)
    keys = _throttle_keys(email, client)
    if any(_is_locked(session, key, now) for key, _ in keys):
        raise AuthError(THROTTLED)
    user = session.exec(select(AdminUser).where(AdminUser.email == email)).first()
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not valid:
        for key, limit in keys:
            _record_failure(session, key, limit, now)
        session.flush()
        raise AuthError(REFUSED)
    email_row = session.get(LoginThrottle, keys[0][0])
    if email_row is not None:
        session.delete(email_row)
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=_token_hash(token),
            user_id=user.id,  # type: ignore[arg-type]
            created_at=now,
            expires_at=now + session_length,
        )
    )
    session.flush()
    return token


def session_user(session: Session, token: str, now: datetime) -> SignedIn | None:
    """The user a session token signs in, or None when it is unknown, expired or signed out."""
    if not token:
        return None
    row = session.exec(
        select(AdminSession, AdminUser)
        .join(AdminUser, AdminUser.id == AdminSession.user_id)  # type: ignore[arg-type]
        .where(AdminSession.token_hash == _token_hash(token))
    ).first()
    if row is None:
        return None
    admin_session, user = row
    if admin_session.revoked_at is not None or admin_session.expires_at <= now:
        return None
    return SignedIn(user.id, user.email, admin_session.expires_at)  # type: ignore[arg-type]


def sign_out(session: Session, token: str, now: datetime) -> None:
    """Revoke the session of `token` (nothing happens for an unknown one). The caller commits."""
    if not token:
        return
    row = session.exec(
        select(AdminSession).where(AdminSession.token_hash == _token_hash(token))
    ).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.flush()


@dataclass(frozen=True, slots=True)
class Purged:
    sessions: int
    throttles: int


def purge_stale(session: Session, now: datetime) -> Purged:
    """Delete sessions that ended (expired or signed out) and throttle rows whose window and
    lockout are over: they can no longer sign anyone in or lock anyone out, and would otherwise
    pile up forever. The caller commits."""
    ended = session.exec(
        delete(AdminSession).where(
            or_(AdminSession.expires_at <= now, AdminSession.revoked_at.is_not(None))  # type: ignore[union-attr]
        )
    )
    quiet = session.exec(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at <= now - FAILURE_WINDOW,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),  # type: ignore[union-attr]
        )
    )
    return Purged(ended.rowcount or 0, quiet.rowcount or 0)
