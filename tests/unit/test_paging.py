"""The one paging contract: a page number and size in, a `Page` with the total out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.core.paging import Page, clamp_page, clamp_page_size, offset_of, page_count


def test_a_page_says_which_rows_it_shows() -> None:
    middle = Page(rows=list(range(10)), total=25, page=2, page_size=10)
    assert (middle.pages, middle.first, middle.last) == (3, 11, 20)
    last = Page(rows=list(range(5)), total=25, page=3, page_size=10)
    assert (last.first, last.last) == (21, 25)
    empty: Page[int] = Page(rows=[], total=0, page=1, page_size=10)
    assert (empty.pages, empty.first, empty.last) == (1, 0, 0)


def test_bad_numbers_are_made_sane() -> None:
    assert clamp_page_size(0, 100) == 1 and clamp_page_size(10_000, 100) == 100
    assert clamp_page(-3, 30, 7) == 1 and clamp_page(99, 30, 7) == 5
    assert clamp_page(4, 0, 7) == 1
    assert offset_of(1, 25) == 0 and offset_of(3, 25) == 50


@given(st.integers(0, 10_000), st.integers(1, 500), st.integers(-5, 1_000))
def test_every_row_is_on_exactly_one_page(total: int, size: int, asked: int) -> None:
    page = clamp_page(asked, total, size)
    pages = page_count(total, size)
    assert 1 <= page <= pages
    if total:  # the last page holds the last row, and no page is left empty
        assert offset_of(pages, size) < total <= offset_of(pages, size) + size
