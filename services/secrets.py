"""Encryption at rest for the tokens and API keys a merchant saves in the dashboard.

Fernet (the `cryptography` package): authenticated encryption, so a value altered in the
database fails to decrypt instead of turning into a wrong key. The key comes from
`REPEATCART_SECRET_KEY` (several, comma-separated, for rotation: the first encrypts, any
decrypts) or from a key file generated on first use, readable by its owner only.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.config import Settings, get_settings


class SecretError(RuntimeError):
    """A stored secret cannot be read: the encryption key changed or the value was altered."""


def _key_from_file(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: when two processes start together, one creates the file and the other reads it
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key + b"\n")
    return key


def cipher(settings: Settings | None = None) -> MultiFernet:
    settings = settings or get_settings()
    if settings.secret_key.strip():
        keys = [part.strip().encode() for part in settings.secret_key.split(",") if part.strip()]
    else:
        keys = [_key_from_file(Path(settings.secret_key_file))]
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as error:
        raise SecretError(
            "the encryption key is not a Fernet key (32 url-safe base64-encoded bytes); "
            "generate one with `repeatcart secret-key`"
        ) from error


def encrypt(plaintext: str, settings: Settings | None = None) -> str:
    return cipher(settings).encrypt(plaintext.encode()).decode()


def decrypt(token: str, settings: Settings | None = None) -> str:
    try:
        return cipher(settings).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretError(
            "a saved secret cannot be decrypted: the encryption key changed or the value was "
            "altered; save it again in the dashboard"
        ) from error


def reencrypt(token: str, settings: Settings | None = None) -> str:
    """The same secret encrypted under the first (newest) key, for key rotation."""
    try:
        return cipher(settings).rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretError("a saved secret cannot be decrypted to re-encrypt it") from error


def last4(secret: str) -> str:
    """What the dashboard may show of a secret: its last four characters, never more than a
    quarter of it (a short secret shows less)."""
    shown = min(4, len(secret) // 4)
    return secret[-shown:] if shown else ""


def new_key() -> str:
    """A fresh Fernet key, for `REPEATCART_SECRET_KEY` (`repeatcart secret-key` prints one)."""
    return Fernet.generate_key().decode()
