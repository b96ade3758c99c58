"""What the portal writes to disk is private to its account: the var directory 0700; the store, its
WAL, the secret, the audit key and export archives 0600; `portal db check` warns about looser modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from portal.audit import checkpoints
from portal.core import migrations
from portal.core.settings import load
from portal.core.store import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_portal_creates_its_files_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which gave 0644 files before
    try:
        var = tmp_path / "var"
        settings = load({"PORTAL_VAR_DIR": str(var)})
        engine = make_engine(settings.database_url)
        migrations.upgrade(engine)
        with engine.connect() as conn:  # keep a connection open so the WAL files exist
            conn.exec_driver_sql("SELECT 1")
            store = var / "portal.db"
            assert settings.database_url.endswith("/var/portal.db")
            checkpoints.load_or_create_key(settings.audit_key_path)
            assert _mode(var) == 0o700
            for path in (store, Path(f"{store}-wal"), Path(f"{store}-shm"), var / "secret.key", settings.audit_key_path):
                assert _mode(path) == 0o600, path
        engine.dispose()
    finally:
        os.umask(old)


def test_db_check_warns_about_loose_modes(tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {**os.environ, "PORTAL_VAR_DIR": str(var)}
    env.pop("PORTAL_DATABASE_URL", None)
    env.pop("PORTAL_SECRET_KEY", None)
    run = lambda *args: subprocess.run([sys.executable, "-m", "portal", "db", *args], capture_output=True, text=True, env=env)  # noqa: E731
    assert run("upgrade").returncode == 0
    quiet = run("check")
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr
    var.chmod(0o755)
    (var / "portal.db").chmod(0o644)
    (var / "secret.key").chmod(0o640)
    loud = run("check")
    assert loud.returncode == 0, loud.stderr  # a warning, not a failure: the store itself is fine
    for name in ("var has mode 0755", "portal.db has mode 0644", "secret.key has mode 0640"):
        assert name in loud.stderr, loud.stderr
    assert "chmod 600" in loud.stderr and "chmod 700" in loud.stderr
