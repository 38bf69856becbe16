"""The one clock: timezone-aware UTC. Code reads it here (or takes `now` as an argument), so a
test moves time for everything at once and no test mixes a fixed date with the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)
