"""A tiny simulated video site for demo mode: it sets the site's two cookies in a real browser and
writes its own access log (combined + cookie header) and events, which the portal then ingests,
so a newcomer can watch their own visit appear under "This browser" and "My data"."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import quote_plus

from sqlalchemy.orm import Session, sessionmaker

from portal.core.clock import Clock
from portal.core.settings import Settings
from portal.demo.seed import DEMO_SITE_USER, demo_dir
from portal.subjects.cookies import decode_search_pref

SITE = "demo-site"
_write_lock = threading.Lock()  # one writer per file, like a web server's log


def log_path(settings: Settings) -> Path:
    return demo_dir(settings) / "demo-site-access.log"


def events_path(settings: Settings) -> Path:
    return demo_dir(settings) / "demo-site-events.jsonl"


def with_term(current: str | None, term: str) -> str:
    """The preference cookie's new value: the term appended (encoded as the site encodes it), last 5 kept."""
    terms = [t for t in decode_search_pref(current or "") if t != term] + [term]
    return "|".join(quote_plus(t) for t in terms[-5:])


def new_id_cookie() -> str:
    return f"sid-{secrets.token_hex(12)}"


def site_cookie_header(settings: Settings, *headers: str | None) -> str | None:
    """The Cookie header as the site's own server sees it: only the site's cookies. The browser also
    sends the portal's session cookie here (same host in demo mode), and a log must never hold that:
    anyone who reads the log could sign in as the visitor."""
    own = {settings.id_cookie, settings.pref_cookie}
    kept = [
        pair.strip()
        for header in headers
        if header
        for pair in header.split(";")
        if pair.partition("=")[0].strip() in own
    ]
    return "; ".join(kept) or None


def _quote(value: str | None) -> str:
    if not value:
        return "-"
    return value.replace("\\", "\\\\").replace('"', '\\"')


def log_line(
    settings: Settings, *, at: datetime, ip: str, method: str, path: str, status: int, referrer: str | None,
    user_agent: str | None, cookie_header: str | None,
) -> None:  # fmt: skip
    line = (
        f'{ip} - - [{at.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "{method} {path} HTTP/1.1" {status} 1024 '
        f'"{_quote(referrer)}" "{_quote(user_agent)}" "{_quote(cookie_header)}"\n'
    )
    with _write_lock, log_path(settings).open("a", encoding="utf-8") as fh:
        fh.write(line)


def login_event(settings: Settings, at: datetime, id_value: str) -> None:
    event = {
        "type": "login",
        "site_user_id": DEMO_SITE_USER,
        "cookie_value": id_value,
        "time": at.isoformat(),
    }
    with _write_lock, events_path(settings).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(event) + "\n")


def ingest_new_lines(factory: sessionmaker[Session], settings: Settings, clock: Clock) -> None:
    """Ingest what the demo site wrote since last time (exactly once, so repeating is harmless)."""
    from portal.ingest.pipeline import Ingest

    if events_path(settings).exists():
        Ingest(factory, settings, clock, fmt="events", site=SITE).run([str(events_path(settings))])
    if log_path(settings).exists():
        Ingest(factory, settings, clock, fmt="combined_cookie", site=SITE).run([str(log_path(settings))])
