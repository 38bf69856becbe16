"""The one paging contract of the dashboard's long lists: ask for a page number and a page size,
get back a `Page` of rows with the total that matched.

A page number outside the list is made sane rather than refused (a row deleted meanwhile can
empty the last page): below 1 is the first page, past the end the last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Page(Generic[Row]):
    """One page of a list: its rows, how many rows match in all, and where the page is."""

    rows: list[Row]
    total: int
    page: int  # 1-based, within 1..pages
    page_size: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.page_size)

    @property
    def first(self) -> int:
        """The 1-based number of the first row shown, 0 when the page is empty."""
        return 0 if not self.rows else (self.page - 1) * self.page_size + 1

    @property
    def last(self) -> int:
        return 0 if not self.rows else self.first + len(self.rows) - 1


def page_count(total: int, page_size: int) -> int:
    """How many pages `total` rows fill; an empty list still shows one (empty) page."""
    return max(1, -(-total // page_size))


def clamp_page_size(page_size: int, maximum: int) -> int:
    return min(max(int(page_size), 1), maximum)


def clamp_page(page: int, total: int, page_size: int) -> int:
    """`page` moved into 1..pages."""
    return min(max(int(page), 1), page_count(total, page_size))


def offset_of(page: int, page_size: int) -> int:
    """How many rows come before `page`."""
    return (page - 1) * page_size
