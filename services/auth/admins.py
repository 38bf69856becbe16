"""Admin users, their sign-in sessions, and the throttle on guessed passwords.

Passwords are kept only as argon2id hashes. A session token is random, handed to the browser
once, and stored only as its sha256, so a copy of the database signs nobody in. Failed sign-ins
are counted in the database (not in memory) so the throttle holds across web processes.

The throttle counts failures per (email, client) and per client, never per email alone: a
guesser elsewhere can slow only themselves down, never lock the merchant out. Each failure past
a few free ones doubles the wait before the next attempt (capped); while a wait runs, sign-in
is refused at once with how long is left, before any password is hashed, so the wait costs the
server nothing and holds no handler open. A client is its IPv4 address or its IPv6 /64 (one
subscriber's usual allocation, so hopping addresses inside it does not reset the count).

A `LoginThrottle` row's `window_started_at` holds the latest failure: failures are forgotten
once `FAILURE_WINDOW` passes after it and after its wait, without another.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.db import session_scope
from services.core.tables import AdminSession, AdminUser, LoginThrottle
from services.settings.effective import effective_settings

MIN_PASSWORD_LENGTH = 10
FREE_FAILURES_PER_PAIR = 3
"""Typos: the first failures of one email from one client cost no wait."""
FREE_FAILURES_PER_CLIENT = 20
"""One client guessing across many emails (password spraying) is slowed past this many."""
FIRST_WAIT = timedelta(seconds=5)
MAX_WAIT = timedelta(minutes=15)
FAILURE_WINDOW = timedelta(minutes=15)
DEFAULT_SESSION_LENGTH = timedelta(hours=12)
MAX_EMAIL_LENGTH = 320

REFUSED = "Email or password is not right."
THROTTLED = "Too many failed sign-ins from here."

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both refusals cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AuthError(ValueError):
    """A refusal with a message meant for the person signing in."""


class Throttled(AuthError):
    """Refused unchecked: this client must wait `retry_after` before trying again."""

    def __init__(self, retry_after: timedelta) -> None:
        self.retry_after = retry_after
        super().__init__(f"{THROTTLED} Try again in {_wait_text(retry_after)}.")


def _wait_text(wait: timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


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
                col(AdminSession.user_id) == user.id,
                col(AdminSession.revoked_at).is_(None),
            )
        ):
            row.revoked_at = now
            session.add(row)
    session.add(user)
    session.flush()
    return user, created


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_network(client: str) -> str:
    """The unit a client is counted by: its IPv4 address, or its IPv6 /64.

    A subscriber usually gets a whole /64, so counting single IPv6 addresses would let one
    guesser rotate through billions of them. Anything that is not an address is kept as given.
    """
    client = client.strip()
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))
    return str(address)


def _throttle_keys(email: str, network: str) -> list[tuple[str, int]]:
    keys = [(f"pair:{network}|{email[:MAX_EMAIL_LENGTH]}", FREE_FAILURES_PER_PAIR)]
    if network:
        keys.append((f"client:{network}", FREE_FAILURES_PER_CLIENT))
    return keys


def _wait_after(failures: int, free: int) -> timedelta:
    """The wait after the `failures`-th failure in a row: none for the free ones, then
    `FIRST_WAIT`, doubling with each further failure up to `MAX_WAIT`."""
    if failures <= free:
        return timedelta(0)
    doublings = min(failures - free - 1, 32)  # 2**32 × 5 s is far past the cap already
    return min(FIRST_WAIT * 2**doublings, MAX_WAIT)


def _quiet_since(row: LoginThrottle) -> datetime:
    """When the row's latest failure, and the wait it set, were over."""
    if row.locked_until is not None and row.locked_until > row.window_started_at:
        return row.locked_until
    return row.window_started_at


def _wait_left(session: Session, key: str, now: datetime) -> timedelta:
    row = session.get(LoginThrottle, key)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return timedelta(0)
    return row.locked_until - now


def _record_failure(session: Session, key: str, free: int, now: datetime) -> None:
    row = session.get(LoginThrottle, key)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_started_at=now)
    elif now - _quiet_since(row) > FAILURE_WINDOW:
        row.failures = 0
    row.failures += 1
    row.window_started_at = now
    wait = _wait_after(row.failures, free)
    row.locked_until = now + wait if wait else None
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
    `Throttled` (unchecked) while this email from this client, or this client, must wait.
    `client` is the address the attempt came from. The caller commits, also after a refusal
    (the failure count must be kept).
    """
    email = normalize_email(email)
    keys = _throttle_keys(email, client_network(client))
    wait = max(_wait_left(session, key, now) for key, _ in keys)
    if wait > timedelta(0):
        raise Throttled(wait)
    user = session.exec(select(AdminUser).where(AdminUser.email == email)).first()
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not valid:
        for key, free in keys:
            _record_failure(session, key, free, now)
        session.flush()
        raise AuthError(REFUSED)
    pair_row = session.get(LoginThrottle, keys[0][0])
    if pair_row is not None:
        session.delete(pair_row)
    assert user.id is not None  # a stored row has its id
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=_token_hash(token),
            user_id=user.id,
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
        .join(AdminUser, col(AdminUser.id) == col(AdminSession.user_id))
        .where(col(AdminSession.token_hash) == _token_hash(token))
    ).first()
    if row is None:
        return None
    admin_session, user = row
    if admin_session.revoked_at is not None or admin_session.expires_at <= now:
        return None
    return SignedIn(admin_session.user_id, user.email, admin_session.expires_at)


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
    """Delete sessions that ended (expired or signed out) and throttle rows quiet for
    `FAILURE_WINDOW` after their latest failure and its wait: they can no longer sign anyone in
    or slow anyone down, and would otherwise pile up forever. The caller commits."""
    ended = session.exec(
        delete(AdminSession).where(
            or_(col(AdminSession.expires_at) <= now, col(AdminSession.revoked_at).is_not(None))
        )
    )
    forgotten = now - FAILURE_WINDOW
    quiet = session.exec(
        delete(LoginThrottle).where(
            col(LoginThrottle.window_started_at) < forgotten,
            or_(
                col(LoginThrottle.locked_until).is_(None),
                col(LoginThrottle.locked_until) < forgotten,
            ),
        )
    )
    return Purged(ended.rowcount or 0, quiet.rowcount or 0)


def signed_in_user(token: str) -> SignedIn | None:
    """Who holds the live session `token`, in a transaction of its own (the dashboard's check)."""
    with session_scope() as session:
        return session_user(session, token, utcnow())


def is_signed_in(token: str) -> bool:
    """Whether `token` is a live session (the upload guard's check)."""
    return signed_in_user(token) is not None


def end_session(token: str) -> None:
    """`sign_out` in a transaction of its own (the dashboard's Sign out)."""
    with session_scope() as session:
        sign_out(session, token, utcnow())


@dataclass(frozen=True, slots=True)
class SignInAttempt:
    """How a sign-in from the dashboard ended: a new session token, or why it was refused."""

    token: str = ""
    email: str = ""
    secure: bool = False  # the effective public URL is https: the cookie must be Secure
    refusal: str = ""


def attempt_sign_in(
    email: str, password: str, client: str, session_length: timedelta
) -> SignInAttempt:
    """`sign_in` in a transaction of its own, committed after a refusal too (the failure counts)."""
    with session_scope() as session:
        secure = effective_settings(session).public_url.startswith("https://")
        try:
            token = sign_in(
                session, email, password, utcnow(), client=client, session_length=session_length
            )
        except AuthError as refusal:
            return SignInAttempt(refusal=str(refusal))
    return SignInAttempt(token=token, email=normalize_email(email), secure=secure)
