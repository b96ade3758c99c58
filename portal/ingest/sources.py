"""Read log sources line by line with flat memory: plain files, gzip files and stdin (`-`).

Every line comes with its number and byte offset (in the decompressed stream for gzip), and no
line ever costs more than `max_line_bytes` plus one read buffer: longer lines are drained and
reported with their true length. `FileIdentity` and `compare` are the building blocks for
exactly-once ingest (same file grown, rotated, copytruncate'd).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from portal.core.errors import PortalError
from portal.ingest.rejections import DEFAULT_LIMITS

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
FINGERPRINT_BYTES = 4096
# Read size: big enough that per-block work vanishes, small enough that memory stays flat.
BLOCK_BYTES = 64 * 1024


class SourceError(PortalError):
    """The source itself cannot be read further (corrupt or truncated gzip, I/O error)."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~3x on this hot path
class RawLine:
    """One line without its terminator (`\\n` or `\\r\\n`).

    `data` holds at most `max_line_bytes`; `length` is the line's true length, so a line is too
    long exactly when `length > len(data)`. `terminated` is False for a last line without a newline
    (a writer may still be appending to it).
    """

    number: int
    offset: int
    data: bytes
    length: int
    terminated: bool = True
    size_on_disk: int = 0  # bytes consumed, terminator included

    @property
    def too_long(self) -> bool:
        return self.length > len(self.data)

    @property
    def end_offset(self) -> int:
        """Offset just past this line and its terminator; where a resumed read starts."""
        return self.offset + self.size_on_disk


@dataclass(slots=True)
class Block:
    """Whole lines read together: `data` is one or more lines, each ending in a newline.

    Reading and checking lines a block at a time (one `split`, one decode, one scan for control
    bytes) instead of one call per line is most of what makes ingest fast. A line in a block may
    still be longer than the limit (blocks are bigger than it): whoever splits the block checks.
    """

    number: int  # number of the first line
    offset: int  # byte offset of the first line
    data: bytes

    def lines(self) -> list[bytes]:
        """The lines without their newline (one that ended in CR LF still ends in CR)."""
        lines = self.data.split(b"\n")
        lines.pop()  # data ends with a newline: the last piece is empty
        return lines


def without_cr(line: bytes) -> bytes:
    """A line of `Block.lines` without the CR of a CR LF ending."""
    return line[:-1] if line.endswith(b"\r") else line


def read_blocks(
    stream: BinaryIO,
    max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
    start_line: int = 1,
    start_offset: int = 0,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[Block | RawLine]:
    """Read a binary stream from its current position as blocks of whole lines.

    Two kinds of line come alone, as a `RawLine`: one so long that no newline follows within
    `max_line_bytes` (it is drained, keeping only its start, so memory stays flat on any input),
    and a last line without a newline (`terminated` False: a writer may still be appending).
    """
    read = stream.read
    limit = max_line_bytes + 2  # room for "\r\n"
    number, offset = start_line, start_offset
    pending = b""  # the start of a line whose newline has not been read yet
    carry = b""  # read but not yet split: the first block, or what followed a drained line
    eof = False
    try:
        if offset == 0:
            carry = read(block_bytes)
            while carry and len(carry) < 3 and UTF8_BOM.startswith(carry):
                more = read(block_bytes)
                if not more:
                    break
                carry += more
            if carry.startswith(UTF8_BOM):
                # An encoding mark some Windows tools write, not data; offsets still count its bytes.
                carry, offset = carry[3:], 3
        while not eof or pending or carry:
            if carry:
                data, carry = carry, b""
            else:
                data = b"" if eof else read(block_bytes)
            if not data:
                eof = True
            cut = data.rfind(b"\n") + 1
            if cut:
                whole = pending + data[:cut] if pending else data[:cut]
                pending = data[cut:]
                yield Block(number, offset, whole)
                number += whole.count(b"\n")
                offset += len(whole)
            elif data:
                pending += data
            if len(pending) > limit:
                line, carry, eof = _drain(read, pending, max_line_bytes, block_bytes, number, offset)
                pending = b""
                yield line
                number += 1
                offset += line.size_on_disk
            elif eof and pending:
                size = len(pending)
                yield RawLine(number, offset, pending, size, False, size)
                pending = b""
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(f"cannot read past line {number - 1} (byte {offset}): {exc}") from exc


def _drain(
    read: Callable[[int], bytes],
    start: bytes,
    max_line_bytes: int,
    block_bytes: int,
    number: int,
    offset: int,
) -> tuple[RawLine, bytes, bool]:
    """Consume the rest of an over-long line keeping only its start: (the line, what follows, EOF?)."""
    size, previous = len(start), start[-1:]
    while True:
        more = read(block_bytes)
        if not more:
            return RawLine(number, offset, start[:max_line_bytes], size, False, size), b"", True
        end = more.find(b"\n")
        if end < 0:
            size += len(more)
            previous = more[-1:]
            continue
        size += end + 1
        before = more[end - 1 : end] if end else previous
        terminator = 2 if before == b"\r" else 1
        line = RawLine(number, offset, start[:max_line_bytes], size - terminator, True, size)
        return line, more[end + 1 :], False


def lines_of(
    items: Iterable[Block | RawLine], max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes
) -> Iterator[RawLine]:
    """The blocks of `read_blocks` as single lines."""
    for item in items:
        if isinstance(item, RawLine):
            yield item
            continue
        number, offset = item.number, item.offset
        for line in item.lines():
            size = len(line) + 1
            data = without_cr(line)
            yield RawLine(number, offset, data[:max_line_bytes], len(data), True, size)
            number += 1
            offset += size


def skip_lines(items: Iterable[Block | RawLine], count: int) -> Iterator[Block | RawLine]:
    """What `read_blocks` yields after its first `count` lines (for a stream that cannot seek)."""
    for item in items:
        if isinstance(item, RawLine):
            if item.number > count:
                yield item
            continue
        drop = count - item.number + 1  # lines of this block already stored
        if drop <= 0:
            yield item
            continue
        cut = -1
        for _ in range(drop):
            cut = item.data.find(b"\n", cut + 1)
            if cut < 0:
                break
        if 0 <= cut < len(item.data) - 1:
            yield Block(count + 1, item.offset + cut + 1, item.data[cut + 1 :])


def read_lines(
    stream: BinaryIO,
    max_line_bytes: int = DEFAULT_LIMITS.max_line_bytes,
    start_line: int = 1,
    start_offset: int = 0,
) -> Iterator[RawLine]:
    """Iterate the lines of a binary stream from its current position."""
    return lines_of(read_blocks(stream, max_line_bytes, start_line, start_offset), max_line_bytes)


def _is_gzip(stream: BinaryIO) -> bool:
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return bytes(peek(2)[:2]) == GZIP_MAGIC
    if stream.seekable():
        position = stream.tell()
        head = stream.read(2)
        stream.seek(position)
        return head == GZIP_MAGIC
    return False


@contextmanager
def open_source(path: str | os.PathLike[str], stdin: BinaryIO | None = None) -> Iterator[BinaryIO]:
    """Open a path (`-` is `stdin`, default `sys.stdin.buffer`) for reading, gunzipping by content.

    Gzip is recognised by its magic bytes, not the name, so `access.log.2.gz` and a gzip stream
    piped to stdin both work. Stdin is not closed.
    """
    if str(path) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        if _is_gzip(stream):
            with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            yield stream
        return
    with open(path, "rb") as f:
        if _is_gzip(f):
            with gzip.GzipFile(fileobj=f, mode="rb") as gz:
                yield gz  # type: ignore[misc]
        else:
            yield f


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """What a later run needs to recognise a file: where it lives on disk and how it starts.

    `fingerprint` is the SHA-256 of the first `fingerprint_bytes` bytes (up to 4 KiB; fewer when
    the file was smaller), so a small file that grows keeps its fingerprint.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int
    fingerprint: str
    fingerprint_bytes: int


def _prefix_digest(fd: int, length: int) -> tuple[str, int]:
    head = os.pread(fd, length, 0)
    return hashlib.sha256(head).hexdigest(), len(head)


def stream_identity(f: BinaryIO, fingerprint_bytes: int = FINGERPRINT_BYTES) -> FileIdentity:
    """Identity of an open file, from its descriptor: no race with a rename between stat and read."""
    fd = f.fileno()
    st = os.fstat(fd)
    digest, hashed = _prefix_digest(fd, fingerprint_bytes)
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, digest, hashed)


def file_identity(path: str | os.PathLike[str], fingerprint_bytes: int = FINGERPRINT_BYTES) -> FileIdentity:
    with open(path, "rb") as f:
        return stream_identity(f, fingerprint_bytes)


FileChange = Literal["unchanged", "grown", "rotated", "truncated", "missing"]


def compare(previous: FileIdentity, path: str | os.PathLike[str]) -> tuple[FileChange, FileIdentity | None]:
    """How the file now at `path` relates to what was recorded as `previous`.

    - `unchanged`: same inode, same size, same start;
    - `grown`: same inode and start, larger: read on from the recorded offset;
    - `rotated`: another inode at this path (the old file was renamed away): read the new one from 0;
    - `truncated`: same inode but smaller or a different start (copytruncate): read from 0;
    - `missing`: nothing at the path.
    """
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if (st.st_dev, st.st_ino) != (previous.device, previous.inode):
                return "rotated", stream_identity(f)
            current = stream_identity(f)
            same_start = _prefix_digest(f.fileno(), previous.fingerprint_bytes)[0] == previous.fingerprint
    except FileNotFoundError:
        return "missing", None
    if current.size < previous.size or not same_start:
        return "truncated", current
    if current.size > previous.size:
        return "grown", current
    return "unchanged", current


def find_rotated(previous: FileIdentity, candidates: list[Path]) -> Path | None:
    """The candidate (e.g. `access.log.1`) that is the previously read file, by inode or fingerprint."""
    for candidate in candidates:
        try:
            identity = file_identity(candidate, previous.fingerprint_bytes)
        except OSError:
            continue
        if (identity.device, identity.inode) == (previous.device, previous.inode):
            return candidate
        if identity.fingerprint == previous.fingerprint and identity.size >= previous.size:
            return candidate
    return None
