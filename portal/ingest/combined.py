"""Apache/nginx `combined` lines, optionally followed by a quoted Cookie header (`combined_cookie`).

    %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i" ["%{Cookie}i"]

Speed matters here (hundreds of thousands of lines per second), so the hot path is one
precompiled regex, a cached time lookup and a cached IP check; anything unusual is diagnosed
only after the fast path failed.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from datetime import datetime

from portal.ingest.logline import (
    COMMON_METHODS,
    MAX_PROTOCOL,
    LogLine,
    check_field_lengths,
    ip_or_none,
    split_request,
)
from portal.ingest.rejections import DEFAULT_LIMITS, Limits, LineRejected, undecodable
from portal.ingest.times import APACHE_TIME_CACHE, apache_time

# Simple classes on purpose: `[^"]*` runs as a tight loop in `re`, a class with ranges is ~3x
# slower. Control bytes are refused for the whole line at once, before the regex (see parse).
_BARE = r"(\S+)"
_QUOTED = r'"([^"]*)"'
# Only when the line contains \" : a quoted field that may hold backslash escapes.
_QUOTED_ESCAPED = r'"((?:[^"\\]|\\.)*)"'
_HEAD = rf"{_BARE} {_BARE} {_BARE} \[([^\]]*)\] "
_TAIL = r" (\d{3}) (\d{1,19}|-) "
# Genuine servers escape control bytes (Apache and nginx write \xNN), so a raw one means the line
# was not written by them; NUL also could not be stored in PostgreSQL text.
CONTROL_BYTES = bytes([*range(0x20), 0x7F])


def _pattern(quoted: str, fields_after: int, cut_last: bool = False) -> re.Pattern[str]:
    tail = [quoted] * fields_after
    if cut_last:
        # The last field lost its closing quote: the line was cut inside it (the shared real sample
        # has such a line). Everything the record is about is intact, so it is kept as logged.
        tail[-1] = quoted[:-1] + r"\\?"
    return re.compile(_HEAD + quoted + _TAIL + " ".join(tail), re.ASCII)


_FIELD_NAMES = ("ip", "remote_user", "time", "request", "referrer", "user_agent", "cookie")
MAX_BYTES = 2**63 - 1  # the largest integer both stores hold

LineParser = Callable[[bytes], LogLine]
# Adds one parsed line to a batch: line number, then LogLine's fields without remote_user.
AddLine = Callable[
    [
        int,
        datetime,
        str,
        str | None,
        str | None,
        str | None,
        int,
        int | None,
        str | None,
        str | None,
        str | None,
    ],
    None,
]
# Handles one line the fast path will not: (line number, raw line, maybe still ending in CR).
Fallback = Callable[[int, bytes], None]
# (whole lines as bytes, the same split at newlines, number of the first line, add, fallback)
BlockParser = Callable[[bytes, list[bytes], int, AddLine, Fallback], None]


def make_parser(with_cookie: bool = False, limits: Limits = DEFAULT_LIMITS) -> LineParser:
    """A parser for `combined` (or `combined_cookie` with `with_cookie`)."""
    fast = _pattern(_QUOTED, 3 if with_cookie else 2).fullmatch
    escaped = _pattern(_QUOTED_ESCAPED, 3 if with_cookie else 2).fullmatch
    cut = _pattern(_QUOTED_ESCAPED, 3 if with_cookie else 2, cut_last=True).fullmatch
    max_line, max_field = limits.max_line_bytes, limits.max_field_chars
    name = "combined_cookie" if with_cookie else "combined"
    time_cache_get = APACHE_TIME_CACHE.get

    def parse(raw: bytes) -> LogLine:
        if len(raw) > max_line:
            raise LineRejected("too_long", f"{len(raw)} bytes (limit {max_line})")
        if len(raw.translate(None, CONTROL_BYTES)) != len(raw):
            raise _control(raw)
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise undecodable(raw, exc) from None
        m = fast(text) if '\\"' not in text else escaped(text)
        if m is None:
            m = cut(text)
            if m is None:
                raise LineRejected("malformed", f"not a {name} line")
        if with_cookie:
            host, _ident, user, when, request, status, size, referrer, agent, cookie = m.groups()
        else:
            host, _ident, user, when, request, status, size, referrer, agent = m.groups()
            cookie = "-"
        if len(text) > max_field:
            check_field_lengths(max_field, _FIELD_NAMES, (host, user, when, request, referrer, agent, cookie))
        ip = ip_or_none(host)
        if ip is None:
            raise LineRejected("bad_ip", f"not an IP address: {host[:60]!r}")
        if len(size) == 19 and int(size) > MAX_BYTES:
            raise LineRejected("malformed", f"response size out of range: {size}")
        time = time_cache_get(when) or apache_time(when)
        method, path, protocol = split_request(request)
        return LogLine(
            time,
            ip,
            None if user == "-" else user,
            method,
            path,
            protocol,
            int(status),
            None if size == "-" else int(size),
            None if referrer == "-" else referrer,
            None if agent == "-" else agent,
            None if cookie == "-" else cookie,
        )

    return parse


def make_block_parser(with_cookie: bool = False, limits: Limits = DEFAULT_LIMITS) -> BlockParser:
    """The same parser for a whole block of lines at once, handing each good line straight to `add`.

    Control bytes, UTF-8 and line lengths are checked once for the block, and no object is made
    per line but the row itself. Any line this fast path is not sure of (no match, an escaped
    quote, a long field, an odd address, time or request line), and every line of a block that
    fails a block check, goes to `fallback`: the line parser above, which says exactly why.
    """
    # The request line split by the regex too, in the one shape the line parser takes as is:
    # a common method, a target without spaces, HTTP/ and at most MAX_PROTOCOL characters.
    methods = "|".join(sorted(COMMON_METHODS))
    request = f'"({methods}) ([^" ]+) (HTTP/[^" ]{{0,{MAX_PROTOCOL - 5}}})"'
    tail = " ".join([_QUOTED] * (3 if with_cookie else 2))
    fast = re.compile(_HEAD + request + _TAIL + tail, re.ASCII).fullmatch
    max_line, max_field = limits.max_line_bytes, limits.max_field_chars
    time_cache_get = APACHE_TIME_CACHE.get

    def parse_block(data: bytes, lines: list[bytes], number: int, add: AddLine, fallback: Fallback) -> None:
        text = None
        # Newlines are control bytes too: exactly one per line may go.
        if (
            len(data.translate(None, CONTROL_BYTES)) + len(lines) == len(data)
            and max(map(len, lines), default=0) <= max_line
        ):
            with contextlib.suppress(UnicodeDecodeError):  # bad UTF-8 somewhere: line by line
                text = data.decode()
        if text is None:
            for i, raw in enumerate(lines):
                fallback(number + i, raw)
            return
        texts = text.split("\n")
        escapes = '\\"' in text
        cookie = "-"
        for i, line in enumerate(texts[:-1], number):
            m = fast(line)
            if m is None or len(line) > max_field or (escapes and '\\"' in line):
                fallback(i, lines[i - number])
                continue
            if with_cookie:
                host, _ident, _user, when, method, path, protocol, status, size, referrer, agent, cookie = (
                    m.groups()
                )
            else:
                host, _ident, _user, when, method, path, protocol, status, size, referrer, agent = m.groups()
            ip = ip_or_none(host)
            # 19 digits may be more than a store's integer holds: the line parser says.
            if ip is None or len(size) == 19:
                fallback(i, lines[i - number])
                continue
            at = time_cache_get(when)
            if at is None:
                try:
                    at = apache_time(when)
                except LineRejected:
                    fallback(i, lines[i - number])
                    continue
            # The same conversions as the end of `parse` above, written out: a helper would be a call
            # per line on the hot path (tests/test_ingest_blocks.py holds the two paths equal).
            add(
                i,
                at,
                ip,
                method,
                path,
                protocol,
                int(status),
                None if size == "-" else int(size),
                None if referrer == "-" else referrer,
                None if agent == "-" else agent,
                None if cookie == "-" else cookie,
            )

    return parse_block


def _control(raw: bytes) -> LineRejected:
    position = next(i for i, b in enumerate(raw) if b in CONTROL_BYTES)
    return LineRejected("binary", f"control byte 0x{raw[position]:02x} at column {position}")
