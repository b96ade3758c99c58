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
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, UnaryExpression, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators

_Plan = tuple[Select[Any], list[Any], list[tuple[int, bool]]]  # statement, converters, sort keys


def all_rows(session: Session, stmt: Select[Any], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `stmt` (a Core select ordered by columns it selects, never NULL), as tuples, in
    its order."""
    dialect = session.get_bind().dialect
    if dialect.name != "sqlite":
        return [tuple(row) for row in session.execute(stmt, params)]
    packed, convert, order = _plan(stmt, dialect)
    raw = session.execute(packed, params).scalar_one()
    rows = [tuple(c(v) if c else v for c, v in zip(convert, row, strict=True)) for row in json.loads(raw)]
    # Sorted again by the statement's own ORDER BY: the order in which an aggregate reads the rows
    # of an ordered subquery is not one SQLite promises (3.44 added ORDER BY inside aggregates).
    for index, descending in reversed(order):  # stable sorts, the last key first
        rows.sort(key=itemgetter(index), reverse=descending)
    return rows


@functools.lru_cache(maxsize=64)  # callers pass statements built once
def _plan(stmt: Select[Any], dialect: Dialect) -> _Plan:
    inner = stmt.subquery()
    packed: Select[Any] = select(func.json_group_array(func.json_array(*inner.c)))
    convert = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in stmt.selected_columns
    ]
    return packed, convert, [_key(stmt, clause) for clause in stmt._order_by_clauses]


def _key(stmt: Select[Any], clause: Any) -> tuple[int, bool]:
    """(index of the selected column, descending) of one ORDER BY term."""
    descending = isinstance(clause, UnaryExpression) and clause.modifier is operators.desc_op
    column = clause.element if isinstance(clause, UnaryExpression) else clause
    for index, selected in enumerate(stmt.selected_columns):
        if selected is column:
            return index, descending
    raise ValueError(f"all_rows orders by selected columns only, not {column}")
