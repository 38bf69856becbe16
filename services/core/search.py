"""What a dashboard search box means: the typed text anywhere in a column, ignoring case.

The merchant's `%`, `_` and `\\` are matched as themselves: in a LIKE pattern they would be
wildcards, so "10%" would find every product whose title merely contains "10".
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement, SQLCoreOperations

LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards (and the escape character itself) escaped."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def contains(column: SQLCoreOperations[str | None], text: str) -> ColumnElement[bool]:
    """`column` contains `text`, case-insensitively, on SQLite and PostgreSQL alike."""
    return column.ilike(f"%{escape_like(text)}%", escape=LIKE_ESCAPE)
