"""Site data for the "My data" and "This browser" tests, written straight into the real store.

Cookie identifiers carry the real keyed value hash, so `identity.find` (and with it "This
browser" and "the browser you are using now") works on them exactly as on ingested ones.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from portal.models import Account, Identifier, IngestSource, LogRecord, SearchPreference
from portal.models.sitedata import log_record_id
from portal.subjects import identity, tally
from tests.conftest import Store

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def _insert(store: Store, model: Any, **values: Any) -> int:
    with store.engine.begin() as conn:
        key = conn.execute(insert(model.__table__).values(**values)).inserted_primary_key
        return int(key[0]) if key and key[0] is not None else 0


def subject(store: Store, kind: str = "browser") -> int:
    with store.ctx() as ctx:
        return identity.new_subject(ctx, kind)


def account_subject(store: Store, email: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(Account.subject_id).where(Account.email == email)).scalar_one())


def cookie(
    store: Store,
    subject_id: int,
    name: str,
    value: str,
    *,
    last_seen: datetime | None = None,
    user_agent: str | None = CHROME,
    expires_in_days: int | None = 365,
) -> int:
    at = last_seen or store.clock.now()
    with store.ctx() as ctx:
        digest = identity.value_hash(ctx, "cookie", name, value)
    return _insert(
        store, Identifier, kind="cookie", name=name, value=value, value_hash=digest, subject_id=subject_id,
        first_seen=at - timedelta(days=2), last_seen=at, set_at=at - timedelta(days=2),
        expires_at=at + timedelta(days=expires_in_days) if expires_in_days else None, last_user_agent=user_agent,
    )  # fmt: skip


def preference(
    store: Store,
    subject_id: int,
    term: str,
    *,
    source: str = "referrer",
    engine: str = "Google",
    times: int = 1,
) -> int:
    at = store.clock.now()
    return _insert(
        store, SearchPreference, subject_id=subject_id, term=term, source=source,
        engine=engine if source == "referrer" else "", first_seen=at - timedelta(days=1), last_seen=at, times=times,
    )  # fmt: skip


def source(store: Store, path: str = "/var/log/site/access.log") -> int:
    now = store.clock.now()
    return _insert(
        store, IngestSource, path=path, fingerprint=f"{path}".ljust(64, "f")[:64], fingerprint_bytes=0,
        offset=0, lines=0, format="combined", created_at=now, updated_at=now, site="",
    )  # fmt: skip


_LINE = {"n": 0}


def insert_records(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Log records as ingest would store them, their subjects' tallies included."""
    for start in range(0, len(rows), 5000):
        conn.execute(insert(LogRecord.__table__), rows[start : start + 5000])  # type: ignore[attr-defined]
    tally.add(conn, Counter(row["subject_id"] for row in rows))


def log_records(
    store: Store,
    subject_id: int | None,
    count: int,
    *,
    source_id: int,
    newest: datetime | None = None,
    step: timedelta = timedelta(minutes=7),
    ip: str = "198.51.100.23",
    path: str = "/videos/{i}",
    referrer: str | None = "https://www.google.com/search?q=cats",
    user_agent: str = CHROME,
    same_time_every: int = 1,
) -> None:
    """`count` records, newest first from `newest`, `step` apart; `same_time_every` > 1 gives runs of
    records sharing one timestamp (to prove the keyset's id tie-break)."""
    newest = newest or store.clock.now() - timedelta(minutes=1)
    rows = []
    for i in range(count):
        _LINE["n"] += 1
        rows.append(
            {
                "id": log_record_id(source_id, _LINE["n"]),
                "source_id": source_id, "line_no": _LINE["n"], "subject_id": subject_id,
                "at": newest - step * (i // same_time_every), "ip": ip, "method": "GET",
                "path": path.format(i=i), "protocol": "HTTP/1.1", "status": 200, "bytes": 512,
                "referrer": referrer, "referrer_domain": "google.com" if referrer else None,
                "user_agent": user_agent, "site": "", "cookies": None,
            }
        )  # fmt: skip
    with store.engine.begin() as conn:
        insert_records(conn, rows)
