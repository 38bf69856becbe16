"""Receiving an order-export upload: to a file the server names, refused past its size limit.

The client's filename is only ever shown, never part of a path, and files a crashed process
left behind are swept when the next upload starts.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from services.core.config import Settings, get_settings

__all__ = [
    "MAX_UPLOAD_BYTES",
    "STALE_UPLOAD_SECONDS",
    "UploadRefused",
    "UploadSink",
    "UploadTooLarge",
    "shown_filename",
    "upload_dir",
]

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
"""Largest accepted upload: a year of a big shop's orders is well under this."""
STALE_UPLOAD_SECONDS = 24 * 3600
_FILENAME_CHARS = 120


class UploadRefused(Exception):
    """An upload that cannot be imported; the message says why, for the merchant."""


class UploadTooLarge(UploadRefused):
    """The upload passed `MAX_UPLOAD_BYTES`; what was received is deleted."""


def upload_dir(settings: Settings | None = None) -> Path:
    """Where uploads wait for their import: beside the SQLite file, else beside the key file."""
    settings = settings or get_settings()
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        base = Path(url.database).resolve().parent
    else:
        base = Path(settings.secret_key_file).resolve().parent
    directory = base / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class UploadSink:
    """Writes an upload to a server-chosen file, refusing it once it passes `max_bytes`.

    The client's filename is never part of the path (it is only shown), so an upload cannot
    write outside the directory or over another file.
    """

    def __init__(self, directory: Path, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self.path = directory / f"upload-{uuid.uuid4().hex}.csv"
        self.max_bytes = max_bytes
        self.size = 0
        self._file = self.path.open("wb")
        _sweep_stale_uploads(directory, self.path)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.discard()
            raise UploadTooLarge(
                f"the file is larger than {_size(self.max_bytes)}; export a "
                "shorter date range from Shopify and import the parts one after another"
            )
        self._file.write(data)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def _sweep_stale_uploads(directory: Path, fresh: Path) -> None:
    """Uploads left behind by a process that died mid-import would otherwise stay forever.

    Ages are read on the clock that stamped the files, the file system's: `fresh` was just
    created, so its time is now there (the app's clock may differ, as in tests that move it).
    """
    cutoff = fresh.stat().st_mtime - STALE_UPLOAD_SECONDS
    for stale in directory.glob("upload-*.csv"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):,.0f} MB"
    return f"{count:,} bytes"


def shown_filename(name: str | None) -> str:
    """The client's filename for display only: its last segment, printable, cut short."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip() or "upload.csv"
    return base[:_FILENAME_CHARS]
