"""`LogLine`, one parsed access-log line, and the field checks every access format shares."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from portal.ingest.rejections import LineRejected
from portal.models.sitedata import LogRecord, column_chars


@dataclass(slots=True)
class LogLine:
    """Text fields are kept exactly as logged (Apache's `\\"` and `\\xNN` escapes, `<script>`, and in
    JSON formats even CR/LF): the portal shows people what was recorded, the web layer escapes it."""

    time: datetime
    ip: str
    remote_user: str | None
    method: str | None
    path: str | None
    protocol: str | None
    status: int
    bytes: int | None
    referrer: str | None
    user_agent: str | None
    cookie: str | None = None


MAX_IP, MAX_METHOD, MAX_PROTOCOL = (column_chars(LogRecord, c) for c in ("ip", "method", "protocol"))


@lru_cache(maxsize=65_536)
def ip_or_none(text: str) -> str | None:
    try:
        ip = str(ipaddress.ip_address(text))
    except ValueError:
        return None
    return ip if len(ip) <= MAX_IP else None  # only an IPv6 zone name can make it longer


def normalize_ip(text: str) -> str:
    """The address in canonical form (IPv6 compressed, lower case); `bad_ip` when it is not one."""
    ip = ip_or_none(text)
    if ip is None:
        raise LineRejected("bad_ip", f"not an IP address: {text[:60]!r}")
    return ip


COMMON_METHODS = frozenset(("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"))
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}", re.ASCII)


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """`GET /a?b=1 HTTP/1.1` → (method, target, protocol).

    `-` (Apache's "no request line", e.g. a 408) gives three Nones; HTTP/0.9 and targets with raw
    spaces are kept; anything else (TLS handshakes sent to port 80 …) is `bad_request`.
    """
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/"):
        method, target, protocol = parts
    elif request in ("-", ""):
        return None, None, None
    elif len(parts) < 2:
        raise LineRejected("bad_request", f"not a request line: {request[:60]!r}")
    elif parts[-1].startswith("HTTP/") and len(parts) > 3:
        method, target, protocol = parts[0], " ".join(parts[1:-1]), parts[-1]
    else:
        method, target, protocol = parts[0], " ".join(parts[1:]), None
    if method not in COMMON_METHODS and _TOKEN.fullmatch(method) is None:
        raise LineRejected("bad_request", f"not an HTTP method: {method[:40]!r}")
    if not target:
        raise LineRejected("bad_request", "empty request target")
    check_method_protocol(method, protocol)
    return method, target, protocol


def check_method_protocol(method: str | None, protocol: str | None) -> None:
    if method is not None and len(method) > MAX_METHOD:
        raise LineRejected("bad_request", f"method longer than {MAX_METHOD} characters")
    if protocol is not None and len(protocol) > MAX_PROTOCOL:
        raise LineRejected("bad_request", f"protocol longer than {MAX_PROTOCOL} characters")


def check_field_lengths(limit: int, names: tuple[str, ...], values: tuple[str | None, ...]) -> None:
    for name, value in zip(names, values, strict=True):
        if value is not None and len(value) > limit:
            raise LineRejected("field_too_long", f"{name} has {len(value)} characters (limit {limit})")
