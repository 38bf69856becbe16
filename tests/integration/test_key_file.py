"""The generated key file: created whole, once, private, however many processes start at once."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from services.core import secrets
from services.core.config import Settings
from tests.concurrency import at_once

STARTERS = 12


def settings_for(key_file: Path) -> Settings:
    return Settings(secret_key="", secret_key_file=str(key_file))


def encrypt_with_key_file(key_file: str, start: Any, out: Any) -> None:
    """One starting process: wait for the others, then encrypt with the (new) key file."""
    start.wait(60)
    out.put(secrets.encrypt("hello", settings_for(Path(key_file))))


def assert_one_private_key(key_file: Path, tokens: list[str]) -> None:
    """Every starter encrypted with the key now in the file; nothing else is left beside it."""
    key = Fernet(key_file.read_bytes().strip())
    assert [key.decrypt(token.encode()) for token in tokens] == [b"hello"] * len(tokens)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert sorted(path.name for path in key_file.parent.iterdir()) == [key_file.name]


def test_threads_starting_at_once_on_a_slow_disk_share_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow write must not let another starter read a key file that is still empty."""
    key_file = tmp_path / "keys" / "secret.key"
    slow_open = os.fdopen

    def fdopen_on_a_slow_disk(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return slow_open(*args, **kwargs)

    monkeypatch.setattr(os, "fdopen", fdopen_on_a_slow_disk)
    tokens = at_once(lambda: secrets.encrypt("hello", settings_for(key_file)), STARTERS)
    assert_one_private_key(key_file, tokens)


def test_processes_starting_at_once_share_one_key(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(STARTERS // 2)
    out = context.Queue()
    processes = [
        context.Process(target=encrypt_with_key_file, args=(str(key_file), start, out))
        for _ in range(STARTERS // 2)
    ]
    for process in processes:
        process.start()
    tokens = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    assert_one_private_key(key_file, tokens)


def test_a_failed_write_leaves_no_key_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fails mid-write leaves nothing: the next start creates a whole key."""
    key_file = tmp_path / "secret.key"

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        secrets.encrypt("hello", settings_for(key_file))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert_one_private_key(key_file, [secrets.encrypt("hello", settings_for(key_file))])
