"""Files the portal keeps on disk hold password hashes, TOTP secrets, keys and personal data: whatever
it creates itself is private to the account it runs as (directories 0700, files 0600), and
`portal db check` warns about looser modes of what an operator created."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a directory; made 0700 if this call creates it (an existing one is left as it is)."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(PRIVATE_DIR)
    return path


def create_private_file(path: Path) -> bool:
    """Create `path` empty with mode 0600 unless it exists; True when this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other stores and in-memory databases)."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def loose_modes(paths: list[Path]) -> list[str]:
    """One warning per existing path that its group or others can read, write or enter."""
    warnings = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            want = PRIVATE_DIR if path.is_dir() else PRIVATE_FILE
            warnings.append(
                f"{path} has mode {mode:04o}: others on this machine can read it; chmod {want:o} {path}"
            )
    return warnings
