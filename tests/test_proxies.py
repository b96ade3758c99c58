"""X-Forwarded-For is believed only from PORTAL_TRUSTED_PROXIES (default: nobody), so a client can
neither choose its own address to dodge the per-address login limit nor get a victim's address blocked."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2 as httpx
import pytest
from sqlalchemy import text

from portal.core.crypto import keyed_hash
from portal.core.errors import ConfigError
from portal.core.settings import load
from tests.conftest import CSRF_RE, Store


def _ip_keys(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT key FROM throttle WHERE key LIKE 'ip:%'"))}


def _key(store: Store, ip: str) -> str:
    return "ip:" + keyed_hash(store.settings.secret_key, "throttle-ip", ip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(store: Store, trusted: str) -> Iterator[str]:
    """`portal serve` itself, in a subprocess, on a free loopback port."""
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(store.settings.var_dir),
        "PORTAL_DATABASE_URL": store.settings.database_url,
        "PORTAL_SECRET_KEY": store.settings.secret_key.decode(),
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_TRUSTED_PROXIES": trusted,
        "FORWARDED_ALLOW_IPS": "*",  # uvicorn's own variable must not widen what the setting says
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "no output") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _failed_login(url: str, forwarded_for: str) -> None:
    with httpx.Client(base_url=url) as client:
        match = CSRF_RE.search(client.get("/login").text)
        assert match
        r = client.post(
            "/login",
            data={"email": "x@example.com", "password": "wrong-password", "csrf_token": match.group(1)},
            headers={"X-Forwarded-For": forwarded_for},
        )
        assert r.status_code == 400


def test_serve_believes_no_forwarded_header_by_default(sqlite_store: Store) -> None:
    with _serve(sqlite_store, "") as url:
        _failed_login(url, "192.0.2.66")
    assert _ip_keys(sqlite_store) == {_key(sqlite_store, "127.0.0.1")}


def test_serve_believes_only_the_trusted_proxy(sqlite_store: Store) -> None:
    with _serve(sqlite_store, "127.0.0.1, ::1") as url:
        # nginx appends the peer it saw: what the client put in front of that is not believed.
        _failed_login(url, "198.51.100.1, 192.0.2.66")
    assert _ip_keys(sqlite_store) == {_key(sqlite_store, "192.0.2.66")}


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.0/33", "*", "127.0.0.1;10.0.0.1"])
def test_a_proxy_setting_that_is_not_an_address_is_refused(tmp_path, raw: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="PORTAL_TRUSTED_PROXIES"):
        load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_TRUSTED_PROXIES": raw})


def test_proxy_setting_lists_addresses_and_networks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ok = load({"PORTAL_VAR_DIR": str(tmp_path), "PORTAL_TRUSTED_PROXIES": " 10.0.0.0/8, ::1 ,"})
    assert ok.trusted_proxies == ("10.0.0.0/8", "::1")
    assert load({"PORTAL_VAR_DIR": str(tmp_path)}).trusted_proxies == ()
