"""A page's rows in one step on SQLite, read from the driver itself.

Python's sqlite3 releases the GIL around every step of a statement, so once per row fetched, and
must take it back before it hands the row over. In a web worker whose store threads share one GIL
with the event loop and the renderers of other pages, every such hand-over waits for whichever
thread holds it and costs the kernel a wake-up: under 50 clients with one worker, fetching the 24
rows of the search-preferences page took more CPU than rendering it. Asked for as one JSON value
(`json_group_array`), the rows come back in a single step, and each column is converted as
SQLAlchemy converts it.

The statement (on SQLite the wrapped one) is compiled once and run on the driver connection of the
session's transaction: run through the session, SQLAlchemy's execution context, result and row
objects cost more than the store took to answer (the log records' first page: 0.47 against 0.22
ms on SQLite, about 1.4 against 0.9 on PostgreSQL, whose driver already receives a result whole
and builds its rows in C). Parameters are bound and columns converted as SQLAlchemy does it, the
engine's statement listeners (the read-only guard of page views) see the statement, and a driver
error is raised as SQLAlchemy would raise it.

For a few small hot reads only (a page's rows): JSON has no BLOB, the whole result is one string,
and the statement takes no IN-list (expanding) parameters.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import Select, UnaryExpression, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlmodel.sql.sqltypes import UTCDateTime


def all_rows(session: Session, stmt: Select[Any], params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of `stmt` (a Core select ordered by columns it selects, never NULL), as tuples, in
    its order."""
    dialect = session.get_bind().dialect
    plan = _plan(stmt, dialect)
    values = plan.values(params)
    conn = session.connection()
    driver: Any = conn.connection.driver_connection  # the transaction's connection
    cursor = driver.cursor()
    sql = plan.sql
    # Listeners see the read as any other statement, as SQLAlchemy calls them: the read-only guard
    # (store.py), statement tracers.
    for listener in conn.dispatch.before_cursor_execute:
        sql, values = listener(conn, cursor, sql, values, None, False)
    try:
        found = cursor.execute(sql, values)
        rows = json.loads(found.fetchone()[0]) if plan.packed else found.fetchall()
    except dialect.loaded_dbapi.Error as exc:
        # As SQLAlchemy would raise it: callers tell an interrupted or locked read by its class.
        raise DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error) from exc
    if not plan.convert and not plan.packed:
        return rows  # type: ignore[no-any-return]  # the driver's tuples, as they are
    rows = rows if plan.packed else list(map(list, rows))
    # Column by column, and only the columns that need it (a page's dates): a converter tried on
    # every value cost as much as reading the rows.
    for index, processor in plan.convert:
        for row in rows:
            row[index] = processor(row[index])
    if plan.packed:
        # Sorted again by the statement's own ORDER BY: the order in which an aggregate reads the
        # rows of an ordered subquery is not one SQLite promises (3.44 added ORDER BY inside them).
        for index, descending in reversed(plan.order):  # stable sorts, the last key first
            rows.sort(key=itemgetter(index), reverse=descending)
    return list(map(tuple, rows))


class _Bind(NamedTuple):
    name: str  # as the compiled SQL names it
    key: str  # as callers name it
    default: Any
    required: bool
    processor: Any  # SQLAlchemy's bind processor for the parameter's type, or None


class _Plan(NamedTuple):
    sql: str  # SQLite: the statement wrapped in json_group_array; PostgreSQL: the statement
    packed: bool
    positional: bool  # SQLite's "?" (a list of values), psycopg's %(name)s (a dict)
    binds: list[_Bind]  # positional: one per "?", in order
    convert: list[tuple[int, Any]]  # (column index, converter) for the columns that need one
    order: list[tuple[int, bool]]  # the ORDER BY as (column index, descending)

    def values(self, params: Mapping[str, Any]) -> Any:
        """The parameters as the driver takes them: the caller's values, else the statement's own."""
        if self.positional:
            return tuple([_value(params, bind) for bind in self.binds])
        return {bind.name: _value(params, bind) for bind in self.binds}


@functools.lru_cache(maxsize=64)  # callers pass statements built once
def _plan(stmt: Select[Any], dialect: Dialect) -> _Plan:
    packed = dialect.name == "sqlite"
    run = select(func.json_group_array(func.json_array(*stmt.subquery().c))) if packed else stmt
    compiled = run.compile(dialect=dialect)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("all_rows takes no expanding or literal-execute parameters")
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    names = compiled.positiontup if dialect.positional else list(by_name)
    binds = []
    for name in names or ():
        bind = by_name[name]
        if bind.callable is not None:
            raise ValueError(f"all_rows takes no parameter with a callable value ({bind.key})")
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        escaped = compiled.escaped_bind_names.get(name, name)
        binds.append(_Bind(escaped, bind.key, bind.value, bind.required, processor))
    processors = (_converter(column.type, dialect) for column in stmt.selected_columns)
    convert = [(index, processor) for index, processor in enumerate(processors) if processor is not None]
    order = [_key(stmt, clause) for clause in stmt._order_by_clauses]
    return _Plan(str(compiled), packed, dialect.positional, binds, convert, order)


def _value(params: Mapping[str, Any], bind: _Bind) -> Any:
    if bind.key in params:
        value = params[bind.key]
    elif bind.required:
        raise KeyError(f"all_rows needs a value for the parameter {bind.key!r}")
    else:
        value = bind.default
    return bind.processor(value) if bind.processor is not None and value is not None else value


def _converter(column_type: Any, dialect: Dialect) -> Any:
    processor = column_type.dialect_impl(dialect).result_processor(dialect, None)
    if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime) and processor is not None:
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
