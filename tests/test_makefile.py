"""`make run` serves where HOST and PORT say, and mail links point there too (PORTAL_BASE_URL)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _serve_line(extra_env: dict[str, str], *args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "PORTAL_BASE_URL"} | extra_env
    done = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return next(line for line in done.stdout.splitlines() if " serve " in line)


def test_make_run_builds_mail_links_from_host_and_port() -> None:
    line = _serve_line({}, "HOST=127.0.0.2", "PORT=8123")
    assert "PORTAL_BASE_URL=http://127.0.0.2:8123 " in line and "--host 127.0.0.2 --port 8123" in line


def test_make_run_keeps_a_base_url_that_is_set() -> None:
    line = _serve_line({"PORTAL_BASE_URL": "https://portal.example.org"}, "PORT=8123")
    assert "PORTAL_BASE_URL=https://portal.example.org " in line and "--port 8123" in line
