"""Access logs as JSON lines (nginx `escape=json`, Caddy-like or hand-rolled shapes).

Keys are matched against a table of aliases, so `remote_addr`, `ip` or `client_ip` all work.
Values are kept as decoded: a JSON-escaped CR/LF or `<script>` in a user agent stays data
(the web layer escapes, exports quote). Only NUL is refused, because PostgreSQL text cannot hold it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from portal.ingest.logline import (
    LogLine,
    check_field_lengths,
    check_method_protocol,
    ip_or_none,
    split_request,
)
from portal.ingest.rejections import DEFAULT_LIMITS, Limits, LineRejected, undecodable
from portal.ingest.times import any_time

ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time_iso8601", "time", "timestamp", "@timestamp", "ts", "time_local", "date", "msec"),
    "ip": ("remote_addr", "ip", "client_ip", "clientip", "remote_ip", "client", "realip_remote_addr"),
    "remote_user": ("remote_user", "user"),
    "request": ("request", "request_line"),
    "method": ("request_method", "method", "verb"),
    "path": ("request_uri", "uri", "path", "url"),
    "protocol": ("server_protocol", "protocol", "proto", "http_version"),
    "status": ("status", "status_code", "response", "code"),
    "bytes": ("body_bytes_sent", "bytes", "bytes_sent", "size", "response_size", "body_bytes"),
    "referrer": ("http_referer", "referer", "referrer"),
    "user_agent": ("http_user_agent", "user_agent", "useragent", "agent", "ua"),
    "cookie": ("http_cookie", "cookie", "cookies"),
}
_FIELD_NAMES = ("ip", "remote_user", "method", "path", "protocol", "referrer", "user_agent", "cookie")


def load_object(raw: bytes, limits: Limits) -> dict[str, Any]:
    """Decode and parse one JSON-object line, mapping every failure to a rejection."""
    if len(raw) > limits.max_line_bytes:
        raise LineRejected("too_long", f"{len(raw)} bytes (limit {limits.max_line_bytes})")
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise undecodable(raw, exc) from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LineRejected("bad_json", str(exc)[:80]) from None
    if not isinstance(value, dict):
        raise LineRejected("bad_json", f"a JSON {type(value).__name__}, not an object")
    return value


def _pick(obj: dict[str, Any], field: str) -> Any:
    for key in ALIASES[field]:
        value = obj.get(key)
        if value is not None:
            return value
    return None


def text_or_none(value: Any, field: str) -> str | None:
    """A string field: `-` and empty mean absent; NUL is refused; numbers become text."""
    if value is None or value == "-" or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise LineRejected("bad_field", f"{field} is a {type(value).__name__}, not a string")
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        raise LineRejected("binary", f"NUL character in {field}")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:  # JSON can spell half a surrogate pair; no store takes it
            raise LineRejected("invalid_utf8", f"{field} holds a lone surrogate") from None
    return text


def _int_or_none(value: Any, field: str, low: int, high: int) -> int | None:
    if value is None or value == "-" or value == "":
        return None
    if isinstance(value, bool):
        raise LineRejected("bad_field", f"{field} is a boolean")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        raise LineRejected("bad_field", f"{field} is not a whole number: {str(value)[:40]!r}")
    if not low <= number <= high:
        raise LineRejected("bad_field", f"{field} out of range: {number}")
    return number


def make_parser(limits: Limits = DEFAULT_LIMITS) -> Callable[[bytes], LogLine]:
    def parse(raw: bytes) -> LogLine:
        obj = load_object(raw, limits)
        when = _pick(obj, "time")
        if when is None:
            raise LineRejected("missing_field", "no time")
        time = any_time(when)
        host = text_or_none(_pick(obj, "ip"), "ip")
        if host is None:
            raise LineRejected("missing_field", "no client address")
        ip = ip_or_none(host)
        if ip is None:
            raise LineRejected("bad_ip", f"not an IP address: {host[:60]!r}")
        request = text_or_none(_pick(obj, "request"), "request")
        if request is not None:
            method, path, protocol = split_request(request)
        else:
            method = text_or_none(_pick(obj, "method"), "method")
            path = text_or_none(_pick(obj, "path"), "path")
            protocol = text_or_none(_pick(obj, "protocol"), "protocol")
            if method is None or path is None:
                raise LineRejected("missing_field", "no request (or method and uri)")
            check_method_protocol(method, protocol)
        status = _int_or_none(_pick(obj, "status"), "status", 0, 999)
        if status is None:
            raise LineRejected("missing_field", "no status")
        fields = (
            ip,
            text_or_none(_pick(obj, "remote_user"), "remote_user"),
            method,
            path,
            protocol,
            text_or_none(_pick(obj, "referrer"), "referrer"),
            text_or_none(_pick(obj, "user_agent"), "user_agent"),
            text_or_none(_pick(obj, "cookie"), "cookie"),
        )
        if len(raw) > limits.max_field_chars:
            check_field_lengths(limits.max_field_chars, _FIELD_NAMES, fields)
        return LogLine(
            time,
            ip,
            fields[1],
            method,
            path,
            protocol,
            status,
            _int_or_none(_pick(obj, "bytes"), "bytes", 0, 2**63 - 1),
            fields[5],
            fields[6],
            fields[7],
        )

    return parse
