"""Log timestamps to UTC-aware datetimes, fast.

Access logs repeat the same second on many lines, so both functions keep a bounded cache keyed
by the exact text; a miss costs one small regex (or `fromisoformat`), never `strptime`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

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
    # Every second of a busy log is new, its minute mostly not: a known minute and the
    # seconds field (the text is then exactly as its minute's was, already checked) suffice.
    minute = _MINUTE_CACHE.get(text[:17] + text[20:]) if len(text) == 26 and text[17] == ":" else None
    second = _SECONDS.get(text[18:20])
    if minute is not None and second is not None:
        value = minute + second
    else:
        value = _parse_apache(text)
        if len(text) == 26:
            if len(_MINUTE_CACHE) >= _CACHE_MAX:
                _MINUTE_CACHE.clear()
            _MINUTE_CACHE[text[:17] + text[20:]] = value - timedelta(seconds=value.second)
    if len(APACHE_TIME_CACHE) >= _CACHE_MAX:
        APACHE_TIME_CACHE.clear()
    APACHE_TIME_CACHE[text] = value
    return value


_MINUTE_CACHE: dict[str, datetime] = {}  # `17/May/2015:10:05 +0000` → that minute in UTC
_SECONDS = {f"{s:02d}": timedelta(seconds=s) for s in range(60)}


def _parse_apache(text: str) -> datetime:
    # Seconds since the epoch by arithmetic, then one datetime: building a time zone and
    # converting with it cost four times as much, once per distinct second of a log.
    m = _APACHE.fullmatch(text)
    if m is None or m[2] not in MONTHS:
        raise LineRejected("bad_time", f"not an Apache time: {text[:40]!r}")
    hour, minute, second = int(m[4]), int(m[5]), int(m[6])
    offset_hours, offset_minutes = int(m[8]), int(m[9])
    if offset_hours > 23 or offset_minutes > 59:
        raise LineRejected("bad_time", f"bad UTC offset: {text[:40]!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise LineRejected("bad_time", f"no such time of day: {text[:40]!r}")
    offset = (offset_hours * 60 + offset_minutes) * 60
    try:
        day = _day_number(m[3], m[2], m[1])
        return _EPOCH + timedelta(
            seconds=day * 86_400 + hour * 3600 + minute * 60 + second + (offset if m[7] == "-" else -offset)
        )
    except (ValueError, OverflowError) as exc:
        raise LineRejected("bad_time", f"{exc}: {text[:40]!r}") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.toordinal()


@lru_cache(maxsize=4096)
def _day_number(year: str, month: str, day: str) -> int:
    """Days since 1970-01-01 of a calendar date (ValueError for one that does not exist)."""
    return date(int(year), MONTHS[month], int(day)).toordinal() - _EPOCH_DAY


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
