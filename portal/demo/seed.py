"""Demo data for `make run`: idempotent, clearly fake, never loaded outside `portal demo`.

The demo user gets what a real member would have: a site account with the same email, one
identification cookie per browser from site logins (a laptop, a phone and a work computer, with
today's browsers), a search-preference cookie, a few thousand access-log lines taken from the
shared real log (moved to recent days, as that person's browsers sent them) and some promotional
mail. The data
goes through the real ingest pipeline, from files under VAR_DIR/demo/, so exactly-once ingest
makes `portal demo` safe to run again.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col

from portal import audit
from portal.accounts import accounts, passwords
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.files import private_dir
from portal.core.settings import Settings
from portal.core.store import transaction
from portal.ingest.sources import file_identity
from portal.models import IngestSource
from portal.subjects import identity

# Printed by `make run`; demo data only.
DEMO_PASSWORD = "demo-otter-lantern-velvet"  # noqa: S105
STAFF_NOTE = "staff: sets up a second factor at first login"
# Real traffic nobody on this project wrote (Apache-2.0, from elastic/examples; see sample/README.md).
SAMPLE_LOG = Path(__file__).resolve().parent / "sample" / "apache_combined_10k.log"
DEMO_SITE_USER = "site-user-1001"
DEMO_LINES = 3000
SEARCHES = ("late night films", "documentaries about rivers", "cheap streaming plan", "kung fu classics")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    note: str


DEMO_LOGINS = (
    DemoLogin("user", "demo.user@example.org", DEMO_PASSWORD, "a site member with data"),
    DemoLogin("agent", "demo.agent@example.org", DEMO_PASSWORD, STAFF_NOTE),
    DemoLogin("admin", "demo.admin@example.org", DEMO_PASSWORD, STAFF_NOTE),
)


def create_accounts(ctx: Ctx) -> int:
    """Create the demo accounts that do not exist yet; existing ones are left as they are."""
    created = 0
    for login in DEMO_LOGINS:
        if accounts.by_email(ctx, login.email) is not None:
            continue
        if login.role == "user":
            account = accounts._create(  # noqa: SLF001  (demo accounts skip the mailed link)
                ctx, login.email, passwords.hash_password(login.password), "user", verified=True
            )
            identity.link_verified_email(ctx, account)
        else:
            accounts.add_staff(ctx, login.email, login.role, login.password)
        created += 1
    if created:
        audit.record(ctx, "demo.accounts", details={"accounts": created})
    return created


def demo_dir(settings: Settings) -> Path:
    return private_dir(settings.var_dir / "demo")


# The demo member's own browsers: one person's laptop, phone and work computer, each with its own
# identification cookie (written at login) and the networks it is used from.
MEMBER_BROWSERS = (
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", ("203.0.113.24",)),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Mobile/15E148 Safari/604.1",
        ("198.51.100.77", "198.51.100.78", "203.0.113.24"),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
        "Safari/537.36 Edg/131.0.0.0",
        ("192.0.2.140",),
    ),
)
_ROBOTS = re.compile(r"bot|crawl|spider|slurp|feed|curl|wget|python|java|libwww|monitor|check|fetch", re.I)


def _person_like(line: str) -> bool:
    """A sample line a person's browser could have sent (no crawler, no robots.txt)."""
    agent = line.rsplit('"', 2)[-2] if '"' in line else line
    return '"GET /robots.txt' not in line and not _ROBOTS.search(agent)


def _as_member(head: str, tail: str, browser: int, rng: random.Random) -> tuple[str, str]:
    """The line as the demo member's `browser` sent it: its address and user agent."""
    ua, addresses = MEMBER_BROWSERS[browser]
    request_part = tail.rsplit(' "', 1)[0]
    return f"{rng.choice(addresses)} {head.split(' ', 1)[1]}", f'{request_part} "{ua}"'


def _write_files(settings: Settings, now: datetime) -> tuple[Path, Path]:
    """Write the demo events and access log once; later runs reuse them (so ingest sees no change)."""
    folder = demo_dir(settings)
    events, log = folder / "site-events.jsonl", folder / "site-access.log"
    if events.exists() and log.exists():
        return events, log
    rng = random.Random(1001)
    id_values = [f"sid-{rng.getrandbits(64):016x}" for _ in MEMBER_BROWSERS]
    terms = "|".join(t.replace(" ", "+") for t in SEARCHES[:2])
    start = (now - timedelta(days=60)).replace(microsecond=0)
    user = DEMO_LOGINS[0].email
    event_rows = [
        {"type": "account", "site_user_id": DEMO_SITE_USER, "email": user, "adult_verified": True,
         "time": start.isoformat()},
        *[
            {"type": "login", "site_user_id": DEMO_SITE_USER, "cookie_value": value,
             "time": (start + timedelta(minutes=b)).isoformat()}
            for b, value in enumerate(id_values)
        ],
        {"type": "cookie_set", "name": settings.pref_cookie, "value": terms, "site_user_id": DEMO_SITE_USER,
         "time": start.isoformat(), "expires": (start + timedelta(days=180)).isoformat()},
        *[
            {"type": "email_sent", "email": user, "list": "weekly-picks", "campaign": f"week-{w}",
             "time": (start + timedelta(days=7 * w)).isoformat()}
            for w in range(1, 8)
        ],
    ]  # fmt: skip
    events.write_text("".join(json.dumps(e) + "\n" for e in event_rows))
    source = SAMPLE_LOG.read_text(errors="replace").splitlines() if SAMPLE_LOG.exists() else []
    mine = theirs = 0
    with log.open("w") as out:
        for line in source:
            head, sep, rest = line.partition(" [")
            if not sep or mine + theirs == DEMO_LINES * 2:
                continue
            _old_time, _, tail = rest.partition("] ")
            # Every other line is the demo member's, taken from the lines a person could have sent;
            # the rest stay anonymous visitors (crawlers and all).
            turn = theirs >= DEMO_LINES or (mine + theirs) % 2 == 0
            member = mine < DEMO_LINES and turn and _person_like(line)
            if not member and theirs >= DEMO_LINES:
                continue
            at = start + timedelta(seconds=(mine + theirs) * 850)  # 6,000 lines over ~59 days
            cookie = '"-"'
            if member:
                browser = 0 if mine % 10 < 6 else 1 if mine % 10 < 9 else 2  # laptop, phone, work
                head, tail = _as_member(head, tail, browser, rng)
                cookies = f"{settings.id_cookie}={id_values[browser]}; {settings.pref_cookie}={terms}"
                cookie = f'"{cookies}; _ga=GA1.2.{browser}"'
                if mine % 97 == 0:
                    term = rng.choice(SEARCHES).replace(" ", "+")
                    tail = tail.replace('"-" "', f'"https://www.google.com/search?q={term}" "', 1)
                mine += 1
            else:
                theirs += 1
            out.write(f"{head} [{at.strftime('%d/%b/%Y:%H:%M:%S +0000')}] {tail} {cookie}\n")
    return events, log


def load(
    factory: sessionmaker[Session], settings: Settings, clock: Clock | None = None
) -> tuple[DemoLogin, ...]:
    """Accounts, then the site's events and access log through the real ingest pipeline."""
    from portal.ingest.pipeline import Ingest

    clock = clock or Clock()
    with transaction(factory) as session:
        create_accounts(Ctx(session=session, settings=settings, now=clock.now()))
    events, log = _write_files(settings, clock.now().astimezone(UTC))
    sources: tuple[tuple[Path, Literal["events", "combined_cookie"]], ...] = (
        (events, "events"),
        (log, "combined_cookie"),
    )
    for path, fmt in sources:
        # `make run` loads the demo on every start: a file read to its end is not read again, or each
        # start would add an empty ingest run to the staff's list and an entry to the audit log.
        if path.stat().st_size and not _read_to_the_end(factory, path):
            Ingest(factory, settings, clock, fmt=fmt, site="demo").run([str(path)])
    return DEMO_LOGINS


def _read_to_the_end(factory: sessionmaker[Session], path: Path) -> bool:
    """Whether the demo site's ingest already stored every byte of this file."""
    found = file_identity(path)
    with transaction(factory) as session:
        offset = session.scalar(
            select(func.max(IngestSource.offset)).where(
                col(IngestSource.site) == "demo",
                col(IngestSource.fingerprint) == found.fingerprint,
                col(IngestSource.fingerprint_bytes) == found.fingerprint_bytes,
            )
        )
    return offset is not None and offset >= found.size
