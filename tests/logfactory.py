"""Build access-log lines and event lines for tests (the real sample log has no cookies)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.demo.seed import SAMPLE_LOG  # noqa: F401  (tests read the real sample log through here)

T0 = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


def apache_time(at: datetime) -> str:
    return at.strftime("%d/%b/%Y:%H:%M:%S +0000")


def line(
    *,
    ip: str = "203.0.113.5",
    at: datetime = T0,
    path: str = "/videos/1",
    status: int = 200,
    referrer: str = "-",
    ua: str = CHROME,
    cookies: str | None = None,
) -> str:
    base = f'{ip} - - [{apache_time(at)}] "GET {path} HTTP/1.1" {status} 512 "{referrer}" "{ua}"'
    return base if cookies is None else f'{base} "{cookies}"'


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(item + "\n" for item in lines))
    return path


def event(kind: str, **fields: object) -> str:
    return json.dumps({"type": kind, **fields}, default=str)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
