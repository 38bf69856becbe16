"""The Moments: the kinds of event sent to the messaging tools, named once.

Settings validate the per-integration switches against this list, the messaging adapters name
their metrics after it, and the dispatcher queues one kind at a time; keeping the vocabulary in
the ground floor lets all three agree without importing each other.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, get_args

__all__ = ["MOMENTS", "MOMENT_LABELS", "EventKind", "parse_moments"]

EventKind = Literal["due", "late", "lapse", "cross_sell", "subscription"]
MOMENTS: tuple[EventKind, ...] = get_args(EventKind)
MOMENT_LABELS: dict[EventKind, str] = {
    "due": "Due To Replenish",
    "late": "Late Due To Replenish",
    "lapse": "About To Lapse",
    "cross_sell": "Primed For Cross-sell",
    "subscription": "Primed For Subscription",
}


@lru_cache(maxsize=64)
def parse_moments(text: str) -> frozenset[EventKind]:
    """A comma-separated list of Moment names (`"late, lapse"`) → the set of them. Cached: a
    scan asks once per message and integration, and the settings hold a handful of spellings.

    Raises ValueError naming the unknown ones and the known ones: a typo in a switch must not
    silently leave a Moment on.
    """
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(MOMENTS))
    if unknown:
        raise ValueError(
            f"unknown Moment {', '.join(map(repr, unknown))}; the Moments are {', '.join(MOMENTS)}"
        )
    return frozenset(kind for kind in MOMENTS if kind in names)
