"""A page's rows in one step on SQLite.

Python's sqlite3 releases the GIL around every step of a statement, so once per row fetched, and
must take it back before it hands the row over. In a web worker whose store threads share one GIL
with the event loop and the renderers of other pages, every such hand-over waits for whichever
thread holds it and costs the kernel a wake-up: under 50 clients with one worker, fetching the 24
rows of the search-preferences page took more CPU than rendering it. Asked for as one JSON value
(`json_group_array`), the rows come back in a single step, and each column is converted as
SQLAlchemy converts it. PostgreSQL's driver already receives a result whole: there the statement
runs as it is.

For a few small hot reads only (a page's rows): JSON has no BLOB, and the whole result is one string.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, UnaryExpression, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlmodel.sql.sqltypes import UTCDateTime

# The packed statement, (column index, converter) for the columns that need one, and the sort keys.
_Plan = tuple[Select[Any], list[tuple[int, Any]], list[tuple[int, bool]]]


def all_rows(session: Session, stmt: Select[Any], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `stmt` (a Core select ordered by columns it selects, never NULL), as tuples, in
    its order."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        # all(): psycopg builds every row in one fetchall; iterating the result fetched them one by one.
        return list(map(tuple, session.execute(stmt, params).all()))
    packed, convert, order = _plan(stmt, dialect)
    rows = json.loads(session.execute(packed, params).scalar_one())
    # Column by column, and only the columns that need it (a page's dates): a converter tried on
    # every value cost as much as reading the rows.
    for index, processor in convert:
        for row in rows:
            row[index] = processor(row[index])
    # Sorted again by the statement's own ORDER BY: the order in which an aggregate reads the rows
    # of an ordered subquery is not one SQLite promises (3.44 added ORDER BY inside aggregates).
    for index, descending in reversed(order):  # stable sorts, the last key first
        rows.sort(key=itemgetter(index), reverse=descending)
    return list(map(tuple, rows))


@functools.lru_cache(maxsize=64)  # callers pass statements built once
def _plan(stmt: Select[Any], dialect: Dialect) -> _Plan:
    inner = stmt.subquery()
    packed: Select[Any] = select(func.json_group_array(func.json_array(*inner.c)))
    processors = (_converter(column.type, dialect) for column in stmt.selected_columns)
    convert = [(index, processor) for index, processor in enumerate(processors) if processor is not None]
    return packed, convert, [_key(stmt, clause) for clause in stmt._order_by_clauses]


def _converter(column_type: Any, dialect: Dialect) -> Any:
    processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
    if isinstance(column_type, UTCDateTime) and processor is not None:
        return functools.partial(_utc, processor)
    return processor


def _utc(slow: Any, value: str | None) -> datetime | None:
    """A UTC moment SQLite keeps as naive ISO text, read aware in one step: UTCDateTime parses it and
    then calls replace(tzinfo=), which costs five times the parse (a page reads fifty)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # not the form SQLAlchemy writes: read as SQLAlchemy would
        return slow(value)  # type: ignore[no-any-return]


def _key(stmt: Select[Any], clause: Any) -> tuple[int, bool]:
    """(index of the selected column, descending) of one ORDER BY term."""
    descending = isinstance(clause, UnaryExpression) and clause.modifier is operators.desc_op
    column = clause.element if isinstance(clause, UnaryExpression) else clause
    for index, selected in enumerate(stmt.selected_columns):
        if selected is column:
            return index, descending
    raise ValueError(f"all_rows orders by selected columns only, not {column}")
