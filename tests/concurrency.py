"""Running the same work in several threads at once, for the tests of races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def at_once(work: Callable[[], T], count: int, timeout: float = 60) -> list[T]:
    """Run `work` in `count` threads released together; their results, or the first error."""
    start = threading.Barrier(count, timeout=timeout)
    results: list[T] = []
    errors: list[BaseException] = []

    def one() -> None:
        start.wait()
        try:
            results.append(work())
        except BaseException as error:  # noqa: BLE001 - raised again in the caller
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    assert len(results) == count, "a thread did not finish in time"
    return results
