"""Receiving an upload: server-named files, the size limit as bytes arrive, stale files swept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.sync import uploads as sync_uploads
from services.sync.uploads import UploadSink, UploadTooLarge


def test_an_upload_over_the_limit_is_refused_and_deleted(tmp_path: Path) -> None:
    sink = UploadSink(tmp_path, max_bytes=100)
    sink.write(b"x" * 60)
    with pytest.raises(UploadTooLarge, match="larger than 100 bytes"):
        sink.write(b"x" * 60)
    assert list(tmp_path.iterdir()) == [], "what was received is deleted"
    with pytest.raises(UploadTooLarge, match="larger than 200 MB"):
        UploadSink(tmp_path).write(b"x" * (sync_uploads.MAX_UPLOAD_BYTES + 1))


def test_the_upload_path_never_comes_from_the_client(tmp_path: Path) -> None:
    sink = UploadSink(tmp_path)
    sink.write(b"data")
    sink.close()
    assert sink.path.parent == tmp_path and sink.path.name.startswith("upload-")
    assert sync_uploads.shown_filename("../../etc/passwd") == "passwd"
    assert sync_uploads.shown_filename("") == "upload.csv"


def test_uploads_left_behind_by_a_dead_process_are_swept(tmp_path: Path) -> None:
    fresh = tmp_path / "upload-new.csv"
    fresh.write_bytes(b"x")
    stale = tmp_path / "upload-old.csv"
    stale.write_bytes(b"x")
    old = fresh.stat().st_mtime - 2 * sync_uploads.STALE_UPLOAD_SECONDS  # the file system's clock
    os.utime(stale, (old, old))
    UploadSink(tmp_path).discard()
    assert not stale.exists() and fresh.exists()
