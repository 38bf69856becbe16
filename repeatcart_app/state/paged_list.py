"""The search, sort and paging handlers every paged admin list shares.

A list holds only the page on screen; each handler changes what is asked for and asks the
service again, by page number (`services.core.paging`: a page number and size in, a `Page` with
the total out; a page past the end comes back as the last one). Mixed into an `AuthState`
subclass (`class S(PagedList, AuthState)`): Reflex copies the mixin's vars and handlers onto
each state, so two lists never share a page number.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from repeatcart_app.state.auth import admin_event
from services.core.paging import Page

MAX_SEARCH_LENGTH = 200


def search_text(raw: object) -> str:
    """What a search box sent, trimmed and cut short: a search box is not a place for essays."""
    return str(raw or "")[:MAX_SEARCH_LENGTH].strip()


class PagedList(rx.State, mixin=True):
    """The state mixing this in fills in `_fetch`, `_clean_query` and `_apply_sort`."""

    query: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    range_label: str = ""  # "26–50 of 200", or "" when nothing matches

    @rx.var
    def has_previous(self) -> bool:
        return self.page > 1

    @rx.var
    def has_next(self) -> bool:
        return self.page < self.pages

    def _fetch(self) -> None:
        """Load the rows of `page` for `query` and the sort, then call `_show_page`."""
        raise NotImplementedError

    def _clean_query(self, raw: str) -> str:
        """What the search box sent, made safe to search for."""
        raise NotImplementedError

    def _apply_sort(self, value: str) -> None:
        """Take the sort the browser chose, replacing an unknown one by the default."""
        raise NotImplementedError

    def _show_page(self, shown: Page[Any]) -> None:
        """Record which slice of the matching rows is on screen, for the pager."""
        self.total = shown.total
        self.page = shown.page
        self.pages = shown.pages
        self.range_label = (
            f"{shown.first:,}–{shown.last:,} of {shown.total:,}" if shown.rows else ""
        )

    def _first_page(self) -> None:
        """A new search or sort starts again from the first page."""
        self.page = 1
        self._fetch()

    @admin_event
    def search(self, form_data: dict):
        self.query = self._clean_query(str(form_data.get("query", "")))
        self._first_page()

    @admin_event
    def clear_search(self):
        self.query = ""
        self._first_page()

    @admin_event
    def change_sort(self, value: str):
        self._apply_sort(str(value))
        self._first_page()

    @admin_event
    def next_page(self):
        if self.page < self.pages:
            self.page += 1
        self._fetch()

    @admin_event
    def previous_page(self):
        self.page = max(1, self.page - 1)
        self._fetch()
