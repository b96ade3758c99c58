"""What bench_serve.py drives `portal serve` with: a started server, logins, and keep-alive load.

Load comes from `wrk` when it is installed (Debian: apt-get install wrk), otherwise from an
asyncio client in this file (fine for pages; it tops out near a few thousand requests/s, so
/healthz figures from it say more about the client than the server).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pyotp
from scratch import settle

RUNNING = re.compile(rb"running on http://[^:]+:(\d+)")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TOTP_SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    timeouts: int  # no answer within 2 s
    requests: int

    @property
    def spread(self) -> float:
        """p99 / p50: how much longer the slowest requests wait than the typical one."""
        return self.p99_ms / self.p50_ms if self.p50_ms else 0.0


class Server:
    """`portal serve --workers N` on a free port, its output in files, its CPU time readable."""

    def __init__(self, env: dict[str, str], workers: int, logs: Path) -> None:
        self.out = (logs / f"serve-{workers}.out").open("wb")
        self.err_path = logs / f"serve-{workers}.err"
        err = self.err_path.open("wb")
        cmd = [sys.executable, "-m", "portal", "serve", "--port", "0", "--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.out, stderr=err)
        deadline, started, self.port = time.monotonic() + 60, 0, 0
        while started < workers:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"portal serve did not start: {self.err_path.read_text()[-2000:]}")
            text = self.err_path.read_bytes()
            match = RUNNING.search(text)
            self.port = int(match.group(1)) if match else 0
            started = text.count(b"Application startup complete")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system time of the supervisor and every worker, so far."""
        total = 0
        for pid in _tree(self.proc.pid):
            found = _stat(str(pid))
            if found is not None:
                total += int(found[1][11]) + int(found[1][12])
        return total / os.sysconf("SC_CLK_TCK")

    def problems(self) -> dict[str, int]:
        text = self.err_path.read_text(errors="replace")
        return {"database is locked": text.count("database is locked"), "unhandled errors": text.count("Traceback")}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def machine_ticks() -> list[int]:
    """The whole machine's CPU time so far, in ticks: user, nice, system, idle, iowait, irq, softirq,
    steal (/proc/stat). Steal is time the hypervisor gave the virtual CPUs to someone else."""
    with open("/proc/stat") as stat:
        return [int(n) for n in stat.readline().split()[1:9]]


def _busy(spent: list[int]) -> int:
    """Ticks of `machine_ticks()` differences the CPUs worked: user, nice, system, irq, softirq."""
    return sum(spent[:3]) + spent[5] + spent[6]


def machine_share(spent: list[int]) -> tuple[str, float]:
    """Where the machine's time went (`machine_ticks()` differences): busy, idle, stolen; and the
    share stolen."""
    total = sum(spent) or 1
    busy = _busy(spent)
    stolen = spent[7] / total
    return f"{100 * busy / total:.0f}% busy, {100 * (spent[3] + spent[4]) / total:.0f}% idle, {100 * stolen:.0f}% stolen", stolen


def wait_until_quiet(max_seconds: float = 2.0, quiet: float = 0.15) -> float:
    """Wait until the machine is quiet (under `quiet` of its CPU busy over 50 ms), at most
    `max_seconds`; how long that took.

    When a turn's load tool stops, the server still has up to one request a client in flight: for
    the dearest page, 50 requests of 4-5 ms of CPU, a quarter of a second of two busy cores. A turn
    that starts meanwhile counts that work against its own page: `/healthz` on one PostgreSQL worker
    read p99/p50 2.6-10.3 right after `/staff` turns on the other server, 1.2-1.8 after `/healthz`
    turns or none (2026-12-07, 16:28 UTC)."""
    start = time.monotonic()
    while time.monotonic() - start < max_seconds:
        before = machine_ticks()
        time.sleep(0.05)
        spent = [b - a for a, b in zip(before, machine_ticks(), strict=True)]
        if _busy(spent) <= quiet * (sum(spent) or 1):
            break
    return time.monotonic() - start


def database_cpu_seconds() -> float | None:
    """User + system time of the local PostgreSQL server so far (its running processes, and what the
    postmaster reaped of its children): the store's share of a page on a machine both run on. None
    when no PostgreSQL server runs here (SQLite, or a server elsewhere)."""
    ours = {}
    for entry in Path("/proc").iterdir():
        found = _stat(entry.name) if entry.name.isdigit() else None
        if found is not None and found[0] == "postgres":
            ours[entry.name] = found[1]
    total = 0
    for fields in ours.values():
        total += int(fields[11]) + int(fields[12])
        if fields[1] not in ours:  # the postmaster (its parent is not postgres): its reaped children too
            total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK") if ours else None


def _stat(pid: str) -> tuple[str, list[str]] | None:
    """A process's name and the fields of /proc/PID/stat after it (state first), or None once gone."""
    try:
        head, _, rest = Path(f"/proc/{pid}/stat").read_text().rpartition(")")
    except OSError:
        return None
    return head.partition("(")[2], rest.split()


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += _tree(int(child))
    return out


# -- logging in ---------------------------------------------------------------------------------


class Browser:
    """One cookie jar on one keep-alive connection, enough to log in and post forms."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""

    def get(self, path: str) -> tuple[int, str]:
        return self._send("GET", path, None)

    def post(self, path: str, form_page: str, fields: dict[str, str]) -> tuple[int, str]:
        _, page = self.get(form_page)
        match = CSRF.search(page)
        assert match, f"no CSRF token on {form_page}"
        body = urllib.parse.urlencode({**fields, "csrf_token": match.group(1)})
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: str | None) -> tuple[int, str]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()  # the server closed an idle kept-alive connection: as a browser, reconnect
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        text = response.read().decode(errors="replace")
        for header in response.headers.get_all("set-cookie") or []:
            self.cookie = header.split(";", 1)[0]
        return response.status, text


def log_in(port: int, email: str, password: str, *, staff: bool = False) -> Browser:
    """A logged-in browser; staff enrol (or use) their TOTP second factor, as a person would."""
    browser = Browser(port)
    status, _ = browser.post("/login", "/login", {"email": email, "password": password})
    assert status == 303, f"login of {email} answered {status}"
    if staff:
        _, page = browser.get("/login/mfa")
        match = TOTP_SECRET.search(page)
        assert match, "the benchmark needs a staff account that has not enrolled yet"
        code = pyotp.TOTP(match.group(1)).now()
        status, page = browser.post("/login/mfa", "/login/mfa", {"code": code})
        # Enrolment answers with the recovery codes, shown this once; the back-office is open then.
        assert status == 303 or "Your recovery codes" in page, f"second factor of {email} answered {status}"
    return browser


def demo_store(env: dict[str, str]) -> None:
    """Migrate the store `env` names and load the demo data into it, settled like a live store."""
    for args in (("db", "upgrade"), ("demo",)):
        subprocess.run([sys.executable, "-m", "portal", *args], env=env, check=True, capture_output=True)
    if env.get("PORTAL_DATABASE_URL"):
        settle(env["PORTAL_DATABASE_URL"])


# -- load -----------------------------------------------------------------------------------------


def drive(port: int, path: str, cookie: str, seconds: float, clients: int, tool: str) -> Load:
    if tool == "wrk":
        return _wrk(port, path, cookie, seconds, clients)
    return asyncio.run(_asyncio_load(port, path, cookie, seconds, clients))


def load_tool(choice: str) -> str:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "asyncio"
    return choice


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(raw: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", raw).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def _wrk(port: int, path: str, cookie: str, seconds: float, clients: int) -> Load:
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "2s",
           "-H", f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if set(percentile) != {"50", "99"}:
        raise SystemExit(f"wrk answered no latency figures for {path}:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write) (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    timeouts = sum(int(n) for n in re.findall(r"timeout (\d+)", out))
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Load(rps, _ms(percentile["50"]), _ms(percentile["99"]), errors, timeouts, requests)


async def _asyncio_load(port: int, path: str, cookie: str, seconds: float, clients: int) -> Load:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = timeouts = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, timeouts
        reader = writer = None
        while time.perf_counter() < stop:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                start = time.perf_counter()
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)  # type: ignore[union-attr]
                length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                await asyncio.wait_for(reader.readexactly(int(length.group(1)) if length else 0), 2)  # type: ignore[union-attr]
                latencies.append(time.perf_counter() - start)
                errors += not head.startswith((b"HTTP/1.1 2", b"HTTP/1.1 3"))
            except TimeoutError:
                timeouts += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    if not latencies:
        return Load(0.0, 0.0, 0.0, errors, timeouts, 0)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Load(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000, errors, timeouts, len(latencies))
