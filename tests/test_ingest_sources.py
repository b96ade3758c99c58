"""Reading sources: plain, gzip, stdin; line caps with flat memory; file identity for exactly-once."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from portal.ingest.formats import detect_format, log_parser, parse_lines
from portal.ingest.rejections import Rejection
from portal.ingest.sources import (
    SourceError,
    compare,
    file_identity,
    find_rotated,
    open_source,
    read_lines,
)

REPO = Path(__file__).resolve().parents[1]
from portal.demo.seed import SAMPLE_LOG  # noqa: E402

LINE = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'


def shared_log() -> Path:
    if not SAMPLE_LOG.exists():
        pytest.fail(f"sample log missing: {SAMPLE_LOG}")
    return SAMPLE_LOG


def test_numbers_offsets_and_terminators() -> None:
    data = b"one\r\ntwo\n\nlast"
    lines = list(read_lines(io.BytesIO(data)))
    assert [(x.number, x.offset, x.data, x.terminated) for x in lines] == [
        (1, 0, b"one", True),
        (2, 5, b"two", True),
        (3, 9, b"", True),
        (4, 10, b"last", False),
    ]
    assert lines[1].end_offset == 9 and lines[3].end_offset == len(data)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_line() -> None:
    first, second = read_lines(io.BytesIO(b"\xef\xbb\xbf" + LINE + b"\n" + LINE + b"\n"))
    assert (first.offset, first.data, first.end_offset) == (3, LINE, 3 + len(LINE) + 1)
    assert (second.offset, second.data) == (3 + len(LINE) + 1, LINE)
    long_first = list(read_lines(io.BytesIO(b"\xef\xbb\xbf" + b"x" * 20 + b"\nok\n"), max_line_bytes=10))
    assert [(x.number, x.offset, x.length, x.too_long) for x in long_first] == [
        (1, 3, 20, True),
        (2, 24, 2, False),
    ]


def test_resume_from_an_offset() -> None:
    data = b"a\nbb\nccc\n"
    first = list(read_lines(io.BytesIO(data)))
    f = io.BytesIO(data)
    f.seek(first[0].end_offset)
    rest = list(read_lines(f, start_line=2, start_offset=first[0].end_offset))
    assert [(x.number, x.offset, x.data) for x in rest] == [(2, 2, b"bb"), (3, 5, b"ccc")]


def test_line_exactly_at_the_cap_is_fine_one_more_byte_is_too_long() -> None:
    data = b"x" * 10 + b"\n" + b"y" * 11 + b"\r\n" + b"z" * 30
    a, b, c = read_lines(io.BytesIO(data), max_line_bytes=10)
    assert (a.too_long, a.length) == (False, 10)
    assert (b.too_long, b.length, b.data, b.terminated) == (True, 11, b"y" * 10, True)
    assert (c.too_long, c.length, c.data, c.terminated) == (True, 30, b"z" * 10, False)
    assert c.end_offset == len(data)


def test_a_megabyte_line_is_drained_with_flat_memory() -> None:
    data = b"A" * 1_048_576 + b"\n" + LINE + b"\n"
    stream = io.BytesIO(data)
    tracemalloc.start()
    try:
        lines = list(read_lines(stream, max_line_bytes=16_384))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_384 + 200_000, peak  # the cap plus one 64 KiB drain buffer and change
    assert [(x.number, x.too_long, x.length) for x in lines] == [(1, True, 1_048_576), (2, False, len(LINE))]
    assert lines[1].offset == 1_048_577


def test_plain_and_gzip_files_read_the_same(tmp_path: Path) -> None:
    log = shared_log()
    gz = tmp_path / "access.log.2.gz"  # recognised by content, not by name
    gz.write_bytes(gzip.compress(log.read_bytes()))
    renamed = tmp_path / "access-gz-without-suffix"
    renamed.write_bytes(gz.read_bytes())
    parse = log_parser("combined")
    counts = []
    for path in (log, gz, renamed):
        with open_source(path) as f:
            results = [r for _, r in parse_lines(read_lines(f), parse)]
        counts.append((len(results), sum(isinstance(r, Rejection) for r in results)))
    assert counts == [(10_000, 0)] * 3


def test_stdin_as_a_binary_stream() -> None:
    for payload in (LINE + b"\n" + LINE + b"\n", gzip.compress(LINE + b"\n" + LINE + b"\n")):
        with open_source("-", stdin=io.BytesIO(payload)) as f:
            assert [x.data for x in read_lines(f)] == [LINE, LINE]


@pytest.mark.parametrize("compress", [False, True])
def test_stdin_of_a_real_process(compress: bool) -> None:
    data = shared_log().read_bytes()
    script = (
        "import sys\n"
        "from portal.ingest.sources import open_source, read_lines\n"
        "from portal.ingest.formats import detect_format, log_parser, parse_lines\n"
        "from portal.ingest.pipeline import _fingerprinted\n"
        "with open_source('-') as f:\n"
        "    head, stream = _fingerprinted(f)  # as ingest reads stdin: its head, then all of it\n"
        "    fmt = detect_format(head.split(b'\\n')[:20])\n"
        "    results = [r for _, r in parse_lines(read_lines(stream), log_parser(fmt))]\n"
        "print(fmt, len(results), sum(not hasattr(r, 'ip') for r in results))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=gzip.compress(data) if compress else data,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert done.stdout.decode().split() == ["combined", "10000", "0"]


def test_corrupt_gzip_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(LINE * 5000 + b"\n")[:-200])
    with open_source(path) as f, pytest.raises(SourceError):
        list(read_lines(f))


def test_detect_from_a_gzip_source(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(LINE + b' "site_id=1"\n'))
    with open_source(path) as f:
        assert detect_format([x.data for x in read_lines(f)]) == "combined_cookie"


# --- file identity ----------------------------------------------------------------------------


def test_identity_unchanged_and_grown(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(LINE + b"\n")
    before = file_identity(path)
    assert before.size == len(LINE) + 1 and before.fingerprint_bytes == len(LINE) + 1
    assert compare(before, path)[0] == "unchanged"
    with path.open("ab") as f:
        f.write(LINE + b"\n")
    change, now = compare(before, path)
    assert change == "grown" and now is not None and now.size == 2 * (len(LINE) + 1)
    assert now.inode == before.inode


def test_identity_rotation(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(LINE + b"\n" * 5000)
    before = file_identity(path)
    path.rename(tmp_path / "access.log.1")
    path.write_bytes(LINE + b"\n")
    assert compare(before, path)[0] == "rotated"
    candidates = [tmp_path / "access.log.2", tmp_path / "access.log.1"]
    assert find_rotated(before, candidates) == tmp_path / "access.log.1"


def test_identity_copytruncate(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(LINE + b"\n" * 3)
    before = file_identity(path)
    with path.open("r+b") as f:  # copytruncate keeps the inode
        f.truncate(0)
    assert compare(before, path)[0] == "truncated"
    with path.open("ab") as f:  # ... and the writer goes on, past the old size, with other lines
        f.write(b"9" + LINE[1:] + b"\n" * 10)
    assert compare(before, path)[0] == "truncated"


def test_identity_missing(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"x")
    before = file_identity(path)
    path.unlink()
    assert compare(before, path) == ("missing", None)
