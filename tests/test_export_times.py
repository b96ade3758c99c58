"""The export's batch shortcuts give exactly what SQLAlchemy's per-value processing gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from portal.export.archive import _isoformat, _Pipe
from portal.subjects import registry

AT: Any = registry.by_key("log_records").sa_table.c.at
NAIVE = [datetime(2026, 1, 1, 0, 0, 0), datetime(2025, 12, 31, 23, 59, 59, 123456)]
ZERO = [d.replace(tzinfo=UTC) for d in NAIVE]
OTHER = [d.replace(tzinfo=timezone(timedelta(hours=2))) for d in NAIVE]


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgres"])
@pytest.mark.parametrize("values", [NAIVE, ZERO, OTHER, ZERO + OTHER, NAIVE + ZERO, [None, *NAIVE, None], [None]])
def test_isoformat_matches_the_column_type(dialect: Any, values: list[Any]) -> None:
    expected = [None if v is None else AT.type.process_result_value(v, dialect).isoformat() for v in values]
    assert _isoformat(tuple(values), AT, dialect) == expected
    assert all(t is None or t.endswith("+00:00") for t in expected)


def test_a_failed_write_reaches_the_producer() -> None:
    pipe = _Pipe()
    done: list[int] = []

    def fail() -> None:
        raise OSError("disk full")

    pipe.submit(fail)
    pipe.submit(done.append, 1)  # dropped: nothing runs after a failure
    with pytest.raises(OSError, match="disk full"):
        pipe.wait()
    pipe.submit(done.append, 2)
    pipe.wait()
    pipe.close()
    assert done == [2]
