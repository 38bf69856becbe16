"""A search box matches what the merchant typed, wildcards and all, on any column."""

from __future__ import annotations

from sqlalchemy import column
from sqlalchemy.dialects import postgresql, sqlite

from services.core.search import contains, escape_like


def test_like_wildcards_and_the_escape_character_are_escaped() -> None:
    assert escape_like("10% off_now") == "10\\% off\\_now"
    assert escape_like("a\\b") == "a\\\\b"
    assert escape_like("plain") == "plain"


def test_contains_is_case_insensitive_and_escaped_on_both_databases() -> None:
    clause = contains(column("title"), "50%_")
    pattern = clause.compile().params
    assert list(pattern.values()) == ["%50\\%\\_%"]
    on_sqlite = str(clause.compile(dialect=sqlite.dialect()))
    on_postgres = str(clause.compile(dialect=postgresql.dialect()))
    assert on_sqlite == "lower(title) LIKE lower(?) ESCAPE '\\'"
    assert on_postgres.startswith("title ILIKE ") and on_postgres.endswith(" ESCAPE '\\'")
