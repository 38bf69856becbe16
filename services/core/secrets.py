"""Encryption at rest for the tokens and API keys a merchant saves in the dashboard.

Fernet (the `cryptography` package): authenticated encryption, so a value altered in the
database fails to decrypt instead of turning into a wrong key. The key comes from
`REPEATCART_SECRET_KEY` (several, comma-separated, for rotation: the first encrypts, any
decrypts) or from a key file generated on first use, readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.core.config import Settings, get_settings


class SecretError(RuntimeError):
    """A stored secret cannot be read: the encryption key changed or the value was altered."""


def _key_from_file(path: Path) -> bytes:
    """The key in `path`, created on first use so that it appears whole or not at all.

    The key is written to a private temporary file beside it, flushed to disk, then hard-linked
    into place: the link fails if the file exists, so when several processes start at once the
    first link wins and every other one reads the winner's key, never a half-written file.
    """
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp creates it readable by its owner only
            out.write(key + b"\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes().strip()
        _fsync_directory(path.parent)
        return key
    finally:
        os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    """Make the new name durable, so a crash right after cannot leave the key without its file."""
    with contextlib.suppress(OSError):  # some platforms cannot open or sync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def cipher(settings: Settings | None = None) -> MultiFernet:
    settings = settings or get_settings()
    if settings.secret("secret_key").strip():
        keys = [
            part.strip().encode()
            for part in settings.secret("secret_key").split(",")
            if part.strip()
        ]
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
