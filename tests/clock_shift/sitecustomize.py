"""Moves a process's clock as far ahead as the test session's (tests only).

Python imports this module at start-up in the processes the tests launch with this folder on
`PYTHONPATH` (see `subprocess_env`), which they do only when the session's clock is shifted: the
app, the CLI and every Python process those spawn then read the clock the test seeded their
database with. Imported under its package name (by the tests), it only defines.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

SHIFT_ENV = "REPEATCART_TEST_CLOCK_SHIFT_DAYS"


def shift_days() -> int:
    """Days the clock of this test run is ahead of the real one (0: not shifted)."""
    return int(os.environ.get(SHIFT_ENV) or 0)


def travel_ahead(days: int) -> None:
    """Move this process's clock `days` ahead of the real one, ticking, for the rest of its life.

    An offset, not a date: every process shifted this way reads the same time as the others.
    """
    import time_machine

    time_machine.travel(timedelta(days=days), tick=True).start()
    time.time()  # the clock ticks from its first read: read it now, so the offset stays exact


if __name__ == "sitecustomize" and shift_days():
    travel_ahead(shift_days())
