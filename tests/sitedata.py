"""Rows of site data written straight with Core, for tests of what reads or expires them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert

from portal.models import (
    Identifier,
    IngestRun,
    IngestSource,
    QuarantinedLine,
    SearchPreference,
    Subject,
    UnclassifiedCookie,
)
from portal.models.sitedata import log_record_id
from tests import sitedata_factory as f
from tests.conftest import Store


def _insert(store: Store, model: Any, **values: Any) -> Any:
    """Insert one row; its primary key."""
    with store.engine.begin() as conn:
        return conn.execute(insert(model.__table__).values(**values)).inserted_primary_key[0]


def subject(store: Store) -> int:
    return _insert(store, Subject, kind="browser", created_at=store.clock.now())


def source(store: Store, path: str = "/var/log/site/access.log") -> int:
    now = store.clock.now()
    return _insert(
        store, IngestSource, path=path, fingerprint="f" * 64, fingerprint_bytes=0, offset=0, lines=0,
        format="combined", created_at=now, updated_at=now, site="",
    )  # fmt: skip


def log_record(store: Store, source_id: int, line_no: int, at: datetime, ip: str, subject_id: int | None) -> int:
    with store.engine.begin() as conn:
        f.insert_records(conn, [dict(
            id=log_record_id(source_id, line_no), source_id=source_id, line_no=line_no,
            subject_id=subject_id, at=at, ip=ip, method="GET", path="/", protocol="HTTP/1.1", status=200, site="",
        )])  # fmt: skip
    return log_record_id(source_id, line_no)


def run(store: Store, **values: Any) -> int:
    now = store.clock.now()
    defaults: dict[str, Any] = dict(started_at=now, finished_at=now, actor="system", site="", format="combined",
                                    lines_read=10, stored=7, duplicates=2, rejected=1, status="finished")
    return _insert(store, IngestRun, **{**defaults, **values})


def quarantined(store: Store, at: datetime, raw: bytes, reason: str = "malformed", **values: Any) -> int:
    defaults: dict[str, Any] = dict(path="/var/log/site/access.log", line_no=1, detail="", raw_length=len(raw))
    return _insert(store, QuarantinedLine, at=at, raw=raw, reason=reason, **{**defaults, **values})


def preference(store: Store, subject_id: int, term: str, last_seen: datetime) -> int:
    return _insert(
        store, SearchPreference, subject_id=subject_id, term=term, source="referrer", engine="google",
        first_seen=last_seen, last_seen=last_seen, times=1,
    )  # fmt: skip


def identifier(store: Store, subject_id: int, value: str, last_seen: datetime, **values: Any) -> int:
    defaults: dict[str, Any] = dict(kind="cookie", name="site_id", expires_at=None)
    return _insert(
        store, Identifier, subject_id=subject_id, value=value, value_hash=value.ljust(64, "0")[:64],
        first_seen=last_seen, last_seen=last_seen, **{**defaults, **values},
    )  # fmt: skip


def unclassified(store: Store, name: str, seen: int, first: datetime, last: datetime) -> None:
    _insert(store, UnclassifiedCookie, name=name, seen=seen, first_seen=first, last_seen=last)
