"""Test data for exports: rows for a subject in every table that holds subject data, via Core inserts."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, text

from portal.models import (
    Identifier,
    IngestSource,
    PromoEmail,
    SearchPreference,
    SiteAccount,
    SubjectLink,
)
from portal.models.sitedata import log_record_id
from portal.subjects import consent
from tests import sitedata_factory as f
from tests.conftest import Client, Portal, Store

SHARED_IP = "198.51.100.23"
# Cells a spreadsheet would run as formulas; the CSV must neutralise every one.
FORMULAS = ["=HYPERLINK(\"http://evil.example/\",\"x\")", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR",
            # Blanks before the sign, and the full-width and small-form lookalikes spreadsheets accept.
            " =1+1", "\u00a0=1+1", "\n=1+1", "\u3000@cmd", "\uff1d1+1", "\uff0bSUM(A1)", "\uff0d2+3",
            "\uff20cmd", "\ufe661+1"]


@dataclass
class Seeded:
    subject_id: int
    counts: dict[str, int]
    marker: str  # a string that appears only in this subject's rows


def subject_of(store: Store, email: str) -> int:
    return int(store.scalar("SELECT subject_id FROM account WHERE email = :e", e=email))  # type: ignore[arg-type]


def _source(store: Store) -> int:
    now = store.clock.now()
    with store.engine.begin() as conn:
        existing = conn.execute(text("SELECT id FROM ingest_source WHERE fingerprint = 'seed'")).scalar()
        if existing:
            return int(existing)
        return int(
            conn.execute(
                insert(IngestSource.__table__).returning(IngestSource.__table__.c.id),  # type: ignore[attr-defined]
                {"site": "", "path": "/var/log/site.log", "fingerprint": "seed", "fingerprint_bytes": 0,
                 "offset": 0, "lines": 0, "format": "combined", "created_at": now, "updated_at": now},
            ).scalar_one()
        )


def seed(store: Store, subject_id: int, marker: str, *, logs: int = 25, formulas: bool = False) -> Seeded:
    """Rows in every subject table for `subject_id`; `marker` is in each of them."""
    now = store.clock.now()
    source = _source(store)
    line0 = int(store.scalar("SELECT count(*) FROM log_record") or 0) + 1000 * subject_id  # type: ignore[arg-type]
    terms = [f"{marker} term {i}" for i in range(3)] + ([f"{f} {marker}" for f in FORMULAS] if formulas else [])
    with store.engine.begin() as conn:
        conn.execute(insert(Identifier.__table__), [  # type: ignore[attr-defined]
            {"kind": "cookie", "name": "site_id", "value_hash": f"{marker}-h{i}", "value": f"{marker}-cookie-{i}",
             "subject_id": subject_id, "first_seen": now - timedelta(days=3), "last_seen": now,
             "set_at": now - timedelta(days=3), "expires_at": now + timedelta(days=30),
             "last_user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}
            for i in range(2)
        ])
        conn.execute(insert(SiteAccount.__table__), {  # type: ignore[attr-defined]
            "site_user_id": f"{marker}-user", "email_hash": f"{marker}-eh", "adult_verified": True,
            "subject_id": subject_id, "created_at": now - timedelta(days=9), "updated_at": now,
        })
        f.insert_records(conn, [
            {"id": log_record_id(source, line0 + i), "source_id": source, "line_no": line0 + i, "subject_id": subject_id,
             "at": now - timedelta(minutes=i), "ip": SHARED_IP, "method": "GET",
             "path": f"/{marker}/page/{i}?q=<b>&x=\"1\"", "protocol": "HTTP/1.1", "status": 200,
             "bytes": 1000 + i if i % 5 else None, "referrer": f"https://search.example/?q={marker}",
             "referrer_domain": "search.example", "user_agent": "Mozilla/5.0 <script>alert(1)</script>",
             "site": "", "cookies": json.dumps({"site_id": f"{marker}-cookie-0"})}
            for i in range(logs)
        ])
        conn.execute(insert(SearchPreference.__table__), [  # type: ignore[attr-defined]
            {"subject_id": subject_id, "term": term, "source": "cookie", "engine": "",
             "first_seen": now - timedelta(hours=i), "last_seen": now, "times": i + 1}
            for i, term in enumerate(terms)
        ])
        conn.execute(insert(PromoEmail.__table__), [  # type: ignore[attr-defined]
            {"subject_id": subject_id, "list": "news", "campaign": f"{marker} spring", "at": now}
        ])
        conn.execute(insert(SubjectLink.__table__), [  # type: ignore[attr-defined]
            {"subject_id": subject_id, "merged_id": 900000 + subject_id, "reason": f"{marker} cookie", "at": now}
        ])
    with store.ctx(actor="account:1") as ctx:
        consent.set_choice(ctx, subject_id, "marketing", False, via="portal")
        consent.set_choice(ctx, subject_id, "email", False, via="email_link")
    counts = {"identifiers": 2, "site_accounts": 1, "log_records": logs, "search_preferences": len(terms),
              "promo_emails": 1, "subject_links": 1, "consent": 1, "consent_history": 2}
    return Seeded(subject_id, counts, marker)


def download_link(client: Client) -> str:
    """Prepare an export through the page and return its download path."""
    r = client.submit("/my/export")
    assert r.status_code == 303, r.text
    page = client.get("/my/export").text
    start = page.index('href="/my/export/download/') + len('href="')
    return page[start:page.index('"', start)]


def export_zip(portal: Portal, client: Client) -> zipfile.ZipFile:
    r = client.get(download_link(client))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(r.content))
