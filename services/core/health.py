"""The health probe's one question: does the database answer a round trip?

The HTTP route asks it here, so the UI package never imports the database layer itself.
"""

from __future__ import annotations

from services.core.db import ping

__all__ = ["database_status"]


def database_status() -> str:
    """`ok`, or the type of the error when the database cannot be reached (never its text,
    which may name the server)."""
    try:
        ping()
    except Exception as error:  # noqa: BLE001 - report, never crash the probe
        return type(error).__name__
    return "ok"
