"""Why a line was not accepted: a short machine reason plus a human detail.

A parser raises `LineRejected`; `formats.parse_raw` (under every way of reading lines) turns it
into a `Rejection` next to the raw line, so one bad line never stops a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from portal.core.errors import PortalError

Reason = Literal[
    "too_long",  # the line exceeds Limits.max_line_bytes
    "invalid_utf8",  # the bytes are not strict UTF-8
    "binary",  # control bytes where a text log has none, or NUL anywhere
    "malformed",  # the line does not have the shape of its format
    "field_too_long",  # one field exceeds Limits.max_field_chars
    "bad_ip",  # the client address is not an IPv4/IPv6 address
    "bad_time",  # the time cannot be read, or has no UTC offset
    "bad_request",  # the request line is not "METHOD TARGET [PROTOCOL]"
    "bad_json",  # not a JSON object
    "missing_field",  # a JSON line lacks a required key
    "bad_field",  # a JSON value has the wrong type or range
    "bad_event",  # an event of unknown type
    "parser_error",  # a bug in a parser, caught so the run goes on
]

REASONS: tuple[str, ...] = get_args(Reason)


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that keep one hostile line from costing more than a bounded amount of memory and time."""

    max_line_bytes: int = 16 * 1024
    max_field_chars: int = 8 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str = ""


class LineRejected(PortalError):
    """Raised by a line parser; carries the `Rejection`."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.rejection = Rejection(reason, detail)


def undecodable(raw: bytes, exc: UnicodeDecodeError) -> LineRejected:
    """The rejection for bytes that are not UTF-8: `binary` when they do not look like text at all."""
    if b"\x00" in raw or _looks_binary(raw):
        return LineRejected("binary", f"binary data at byte {exc.start}")
    return LineRejected("invalid_utf8", f"invalid UTF-8 at byte {exc.start}")


def _looks_binary(raw: bytes) -> bool:
    sample = raw[:512]
    controls = sum(1 for b in sample if b < 0x09 or 0x0D < b < 0x20 or b == 0x7F)
    return controls * 10 > len(sample)
