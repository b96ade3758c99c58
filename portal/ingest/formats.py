"""The formats `portal ingest` reads, auto-detection, and the loop that never lets a bad line stop a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar

from portal.ingest import combined, events, jsonaccess
from portal.ingest.events import Event
from portal.ingest.logline import LogLine
from portal.ingest.rejections import DEFAULT_LIMITS, Limits, LineRejected, Rejection
from portal.ingest.sources import RawLine

Format = Literal["combined", "combined_cookie", "jsonl", "events"]
FORMATS: tuple[Format, ...] = ("combined", "combined_cookie", "jsonl", "events")
ACCESS_FORMATS: tuple[Format, ...] = ("combined", "combined_cookie", "jsonl")

T = TypeVar("T")


def log_parser(fmt: Format, limits: Limits = DEFAULT_LIMITS) -> Callable[[bytes], LogLine]:
    """The line parser of an access-log format; it returns a `LogLine` or raises `LineRejected`."""
    if fmt == "combined":
        return combined.make_parser(with_cookie=False, limits=limits)
    if fmt == "combined_cookie":
        return combined.make_parser(with_cookie=True, limits=limits)
    if fmt == "jsonl":
        return jsonaccess.make_parser(limits)
    raise ValueError(f"not an access-log format: {fmt!r}")


def event_parser(limits: Limits = DEFAULT_LIMITS) -> Callable[[bytes], Event]:
    return events.make_parser(limits)


def parser_for(fmt: Format, limits: Limits = DEFAULT_LIMITS) -> Callable[[bytes], LogLine | Event]:
    if fmt == "events":
        return event_parser(limits)
    return log_parser(fmt, limits)


def parse_one(parse: Callable[[bytes], T], raw: bytes) -> T | Rejection:
    """Parse one line; any failure, even a parser bug, comes back as a `Rejection`."""
    try:
        return parse(raw)
    except LineRejected as exc:
        return exc.rejection
    except Exception as exc:  # a bug must cost one line, not the run; the reason says it was a bug
        return Rejection("parser_error", f"{type(exc).__name__}: {str(exc)[:80]}")


def parse_raw(
    parse: Callable[[bytes], T], data: bytes, length: int, max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes
) -> T | Rejection:
    """One line's record or its rejection; `length` is its true length (`data` may be cut short)."""
    if length > max_line_bytes or len(data) > max_line_bytes:
        return Rejection("too_long", f"{length} bytes (limit {max_line_bytes})")
    if not data:
        return Rejection("malformed", "empty line")
    return parse_one(parse, data)


def parse_lines(
    lines: Iterable[RawLine], parse: Callable[[bytes], T], max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes
) -> Iterator[tuple[RawLine, T | Rejection]]:
    """Pair every raw line with its record or its rejection (a blank line is `malformed` too)."""
    for line in lines:
        yield line, parse_raw(parse, line.data, line.length, max_line_bytes)


def block_parser_for(fmt: Format, limits: Limits = DEFAULT_LIMITS) -> combined.BlockParser | None:
    """The whole-block fast path of a format, where it has one (the Apache/nginx text formats)."""
    if fmt in ("combined", "combined_cookie"):
        return combined.make_block_parser(with_cookie=fmt == "combined_cookie", limits=limits)
    return None


def detect_format(first_lines: Iterable[bytes], limits: Limits = DEFAULT_LIMITS) -> Format | None:
    """The format that parses most of the given (non-blank) lines; None when none parses any.

    Ties go to the more specific format: `combined_cookie` before `combined`, `events` before `jsonl`.
    """
    samples = [line.rstrip(b"\r\n") for line in first_lines]
    samples = [line for line in samples if line.strip()]
    if not samples:
        return None
    order: tuple[Format, ...] = ("combined_cookie", "combined", "events", "jsonl")
    scores: dict[Format, int] = {}
    for fmt in order:
        parse = parser_for(fmt, limits)
        scores[fmt] = sum(1 for line in samples if not isinstance(parse_one(parse, line), Rejection))
    best = max(order, key=lambda fmt: scores[fmt])  # max keeps the first of equal scores
    return best if scores[best] > 0 else None
