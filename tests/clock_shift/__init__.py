"""The test session's clock, optionally moved days ahead, shared with the processes it starts.

`pytest --clock-shift-days=N` (or `REPEATCART_TEST_CLOCK_SHIFT_DAYS=N`) runs every test N days
in the future, so a test that mixes a fixed date with the real clock fails today rather than on
the day its date slips out of a window.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tests.clock_shift.sitecustomize import SHIFT_ENV, shift_days, travel_ahead

__all__ = ["SHIFT_ENV", "shift_days", "subprocess_env", "travel_ahead"]


def subprocess_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a Python process a test starts, so that it reads the session's clock."""
    env = dict(env)
    days = shift_days()
    if days:
        path = [str(Path(__file__).parent), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(path)
        env[SHIFT_ENV] = str(days)
    return env
