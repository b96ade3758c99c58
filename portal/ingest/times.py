"""Log timestamps to UTC-aware datetimes, fast.

Access logs repeat the same second on many lines, so both functions keep a bounded cache keyed
by the exact text; a miss costs one small regex (or `fromisoformat`), never `strptime`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from portal.ingest.rejections import LineRejected

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}
_APACHE = re.compile(r"(\d\d)/([A-Z][a-z]{2})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", re.ASCII)
_CACHE_MAX = 200_000
APACHE_TIME_CACHE: dict[str, datetime] = {}  # text → UTC time; parsers read it inline
_EPOCH_MIN, _EPOCH_MAX = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31


def apache_time(text: str) -> datetime:
    """`17/May/2015:10:05:03 +0000` (Apache %t without brackets, nginx $time_local) to UTC."""
    cached = APACHE_TIME_CACHE.get(text)
    if cached is not None:
        return cached
    value = _parse_apache(text)
    if len(APACHE_TIME_CACHE) >= _CACHE_MAX:
        APACHE_TIME_CACHE.clear()
    APACHE_TIME_CACHE[text] = value
    return value


def _parse_apache(text: str) -> datetime:
    m = _APACHE.fullmatch(text)
    if m is None or m[2] not in MONTHS:
        raise LineRejected("bad_time", f"not an Apache time: {text[:40]!r}")
    day, month, year = int(m[1]), MONTHS[m[2]], int(m[3])
    hour, minute, second = int(m[4]), int(m[5]), int(m[6])
    offset_hours, offset_minutes = int(m[8]), int(m[9])
    if offset_hours > 23 or offset_minutes > 59:
        raise LineRejected("bad_time", f"bad UTC offset: {text[:40]!r}")
    offset = timedelta(hours=offset_hours, minutes=offset_minutes)
    tz = timezone(-offset if m[7] == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=tz).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise LineRejected("bad_time", f"{exc}: {text[:40]!r}") from None


_text_cache: dict[str, datetime] = {}


def any_time(value: object) -> datetime:
    """A JSON time: ISO 8601 with offset, Apache/nginx local time, or epoch seconds (int, float, digits).

    A time without a UTC offset is rejected rather than guessed: a wrong guess would shift
    retention and what a person is shown, silently.
    """
    if isinstance(value, bool):
        raise LineRejected("bad_time", "boolean is not a time")
    if isinstance(value, int | float):
        return _epoch(float(value))
    if not isinstance(value, str) or not value or len(value) > 64:
        raise LineRejected("bad_time", f"not a time: {str(value)[:40]!r}")
    cached = _text_cache.get(value)
    if cached is not None:
        return cached
    parsed = _text_time(value)
    if len(_text_cache) >= _CACHE_MAX:
        _text_cache.clear()
    _text_cache[value] = parsed
    return parsed


def _text_time(value: str) -> datetime:
    if value[0].isdigit() and value.replace(".", "", 1).isdigit() and value.isascii():
        return _epoch(float(value))
    if "/" in value:
        return apache_time(value[1:-1] if value.startswith("[") and value.endswith("]") else value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LineRejected("bad_time", f"not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise LineRejected("bad_time", f"time without UTC offset: {value[:40]!r}")
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise LineRejected("bad_time", f"{exc}: {value[:40]!r}") from None


def _epoch(seconds: float) -> datetime:
    if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        raise LineRejected("bad_time", f"epoch seconds out of range: {seconds!r}")
    return datetime.fromtimestamp(seconds, UTC)
