"""The whole-block fast path must be invisible: same lines, same rows, same rejections as the
careful one-line-at-a-time path, on real, generated and hostile input."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.ingest.batches import Batch, Preparer, prepare_batches
from portal.ingest.formats import Format, block_parser_for, parser_for
from portal.ingest.rejections import LineRejected
from portal.ingest.sources import RawLine, lines_of, read_blocks, skip_lines
from portal.ingest.times import apache_time
from portal.subjects.cookies import default_catalog
from tests import logfactory as lf

HEAD = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /a HTTP/1.1" 200 5 "-" '
HOSTILE = [
    HEAD + b'"Mozilla <script>alert(1)</script>"',
    HEAD + b'"ua\r"',  # a CR inside a line
    HEAD + b'"ua \xff\xfe"',  # invalid UTF-8
    HEAD + b'"' + b"x" * 20_000 + b'"',  # too long
    HEAD + b'"' + b"y" * 9_000 + b'"',  # a field too long
    b"\x00\x01binary\x02",
    b"",
    b"not a log line",
    HEAD.replace(b"1.2.3.4", b"999.2.3.4") + b'"ua"',
    HEAD.replace(b"May", b"Mai") + b'"ua"',
    HEAD.replace(b":10:05:03", b":24:05:03") + b'"ua"',
    HEAD.replace(b'"GET /a HTTP/1.1"', b'"-"') + b'"-"',
    HEAD.replace(b'"GET /a HTTP/1.1"', b'"GET /a\\" HTTP/1.1"') + b'"ua \\"quoted\\""',
    HEAD.replace(b'"GET /a HTTP/1.1"', b'"\\x16\\x03\\x01"') + b'"-"',
    HEAD.replace(b"GET /a", b"GET /a?site_id=secret&x=1") + b'"ua"',
    HEAD.replace(b'"-" ', b'"https://www.google.com/search?q=cheap+flights" ') + b'"ua"',
    HEAD.replace(b"200 5", b"200 -") + b'"ua"',
    HEAD.replace(b"200 5", b"200 9223372036854775807") + b'"ua"',  # the largest size a store holds
    HEAD.replace(b"200 5", b"200 9223372036854775808") + b'"ua"',  # one more: refused
    '1.2.3.4 - - [17/May/2015:10:05:03 +0530] "GET /café HTTP/1.1" 200 5 "-" "ua"'.encode(),
    HEAD.replace(b'"GET /a HTTP/1.1"', b'"GET /a b c HTTP/1.1"') + b'"ua"',
    HEAD.replace(b"HTTP/1.1", b"HTTP/") + b'"ua"',
    HEAD.replace(b"HTTP/1.1", b"HTTP/1.1.1.1.1.1") + b'"ua"',  # 16 characters: the most kept
    HEAD.replace(b"HTTP/1.1", b"HTTP/1.1.1.1.1.1x") + b'"ua"',  # 17: refused
    HEAD.replace(b"GET", b"get") + b'"ua"',
    HEAD.replace(b"GET", b"PROPFIND") + b'"ua"',
]


def batches(data: bytes, fmt: Format, fast: bool, batch_lines: int, block_bytes: int) -> list[Any]:
    preparer = Preparer(default_catalog(), source_id=1, site="s", pref_cookie="search_pref", sqlite=True)
    blocks = read_blocks(io.BytesIO(data), block_bytes=block_bytes)
    parse_block = block_parser_for(fmt) if fast else None
    return [_facts(b) for b in prepare_batches(blocks, preparer, batch_lines, parser_for(fmt), parse_block)]


def _facts(b: Batch) -> tuple[Any, ...]:
    rejected = [(q.line_no, q.reason, q.detail, q.raw, q.length) for q in b.rejected]
    return (b.first, b.last, b.end_offset, b.size, b.rows, b.cookie_groups, b.referrer_terms, b.unclassified, rejected, b.events)


def _with_cookies(raw: bytes, i: int) -> bytes:
    return raw + (b' "site_id=v%d; search_pref=term+%d; _ga=x"' % (i % 5, i % 3) if i % 2 else b' "-"')


@pytest.mark.parametrize(("batch_lines", "block_bytes"), [(7, 300), (1000, 65536), (3, 17)])
def test_fast_and_careful_paths_prepare_the_same_batches(batch_lines: int, block_bytes: int) -> None:
    if not lf.SAMPLE_LOG.exists():
        pytest.fail(f"sample log missing: {lf.SAMPLE_LOG}")
    real = lf.SAMPLE_LOG.read_bytes()
    mixed = real[:300_000] + b"\n".join(HOSTILE) + b"\r\n" + real[300_000:600_000]
    cookies = (
        b"".join(_with_cookies(raw, i) + b"\n" for i, raw in enumerate(HOSTILE * 3)) + b"tail, no newline"
    )
    for fmt, data in (("combined", mixed), ("combined_cookie", cookies)):
        fast = batches(data, fmt, True, batch_lines, block_bytes)  # type: ignore[arg-type]
        assert fast == batches(data, fmt, False, batch_lines, block_bytes)  # type: ignore[arg-type]
        rejected = {reason for b in fast for (_n, reason, *_rest) in b[8]}
        assert {
            "invalid_utf8",
            "too_long",
            "field_too_long",
            "binary",
            "malformed",
            "bad_ip",
            "bad_time",
        } <= rejected
        assert sum(len(b[4]) for b in fast) > (2000 if fmt == "combined" else 10)


def _reference(data: bytes, cap: int) -> list[tuple[Any, ...]]:
    """The lines of `data` by the simplest possible reading: what read_lines has always returned."""
    out, number, offset = [], 1, 0
    if data.startswith(b"\xef\xbb\xbf"):
        data, offset = data[3:], 3
    position = 0
    while position < len(data):
        end = data.find(b"\n", position)
        if end < 0:
            rest = data[position:]
            out.append(
                (number, offset, rest[:cap] if len(rest) > cap + 2 else rest, len(rest), False, len(rest))
            )
            break
        line = data[position:end]
        content = line[:-1] if line.endswith(b"\r") else line
        out.append((number, offset, content[:cap], len(content), True, end - position + 1))
        number, offset, position = number + 1, offset + end - position + 1, end + 1
    return out


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    st.booleans(),
    st.booleans(),
    st.sampled_from([1, 2, 3, 7, 16, 64]),
)
def test_blocks_hold_exactly_the_lines_of_the_stream(
    parts: list[bytes], bom: bool, newline_at_end: bool, block_bytes: int
) -> None:
    data = (
        (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(parts) + (b"\n" if newline_at_end and parts else b"")
    )
    got = [
        (x.number, x.offset, x.data, x.length, x.terminated, x.size_on_disk)
        for x in lines_of(read_blocks(io.BytesIO(data), 10, block_bytes=block_bytes), 10)
    ]
    assert got == _reference(data, 10)
    # Skipping what an earlier run stored leaves exactly the lines after it.
    for count in range(len(got) + 1):
        rest = lines_of(skip_lines(read_blocks(io.BytesIO(data), 10, block_bytes=block_bytes), count), 10)
        assert [x.number for x in rest] == [g[0] for g in got[count:]]


def test_a_line_as_long_as_many_blocks_is_drained_and_the_next_one_kept() -> None:
    data = b"ok\n" + b"z" * 5000 + b"\r\nnext\nlast"
    items = list(read_blocks(io.BytesIO(data), max_line_bytes=100, block_bytes=64))
    long = next(x for x in items if isinstance(x, RawLine) and x.terminated)
    assert (long.number, long.length, long.data, long.size_on_disk) == (2, 5000, b"z" * 100, 5002)
    assert [(x.number, x.data, x.terminated) for x in lines_of(items, 100)][2:] == [
        (3, b"next", True),
        (4, b"last", False),
    ]


def test_apache_times_by_minute_agree_with_the_full_parse() -> None:
    start = datetime(2015, 5, 17, 23, 58, 0, tzinfo=UTC)
    for offset in ("+0000", "+0530", "-0800", "-0000"):
        for second in range(0, 300, 7):  # across minutes, the hour and the day
            local = start + timedelta(seconds=second)
            text = local.strftime(f"%d/%b/%Y:%H:%M:%S {offset}")
            sign = -1 if offset[0] == "-" else 1
            shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])) * sign
            assert apache_time(text) == local - shift, text
    apache_time("17/May/2015:10:05:03 +0000")  # the minute is now known …
    for bad in ("17/May/2015:10:05:60 +0000", "17/May/2015:10:05:6x +0000", "17/May/2015:10:05:03 +0000 "):
        with pytest.raises(LineRejected):  # … and a bad second of it is still refused
            apache_time(bad)


def test_clean_lines_never_take_the_careful_path() -> None:
    lines = [
        lf.line(at=lf.T0 + lf.minutes(i), path=f"/p{i}?q={i}", cookies=f"site_id=v{i % 9}")
        for i in range(500)
    ]
    data = "".join(x + "\n" for x in lines).encode()
    careful = parser_for("combined_cookie")
    seen: list[bytes] = []

    def counting(raw: bytes) -> object:
        seen.append(raw)
        return careful(raw)

    preparer = Preparer(default_catalog(), source_id=1, site="", pref_cookie="search_pref", sqlite=False)
    fast = block_parser_for("combined_cookie")
    (batch,) = prepare_batches(read_blocks(io.BytesIO(data + b"odd line\n")), preparer, 1000, counting, fast)
    assert seen == [b"odd line"]
    assert len(batch.rows) == 500 and sum(len(g.indices) for g in batch.cookie_groups.values()) == 500 and len(batch.rejected) == 1
    assert batch.rows[3][3] == lf.T0 + lf.minutes(3)  # PostgreSQL rows carry the time itself
