"""Demo data for `make run`: idempotent, clearly fake, never loaded outside `portal demo`.

The demo user gets what a real member would have: a site account with the same email, an
identification cookie from a site login, a search-preference cookie, a few thousand access-log
lines taken from the shared real log (moved to recent days) and some promotional mail. The data
goes through the real ingest pipeline, from files under VAR_DIR/demo/, so exactly-once ingest
makes `portal demo` safe to run again.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from portal import audit
from portal.accounts import accounts, passwords
from portal.core.clock import Clock
from portal.core.context import Ctx
from portal.core.files import private_dir
from portal.core.settings import Settings
from portal.core.store import transaction
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


def _write_files(settings: Settings, now: datetime) -> tuple[Path, Path]:
    """Write the demo events and access log once; later runs reuse them (so ingest sees no change)."""
    folder = demo_dir(settings)
    events, log = folder / "site-events.jsonl", folder / "site-access.log"
    if events.exists() and log.exists():
        return events, log
    rng = random.Random(1001)
    id_value = f"sid-{rng.getrandbits(64):016x}"
    terms = "|".join(t.replace(" ", "+") for t in SEARCHES[:2])
    start = (now - timedelta(days=60)).replace(microsecond=0)
    user = DEMO_LOGINS[0].email
    event_rows = [
        {"type": "account", "site_user_id": DEMO_SITE_USER, "email": user, "adult_verified": True,
         "time": start.isoformat()},
        {"type": "login", "site_user_id": DEMO_SITE_USER, "cookie_value": id_value,
         "time": start.isoformat()},
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
    with log.open("w") as out:
        for i in range(min(DEMO_LINES * 2, len(source))):
            head, sep, rest = source[i].partition(" [")
            if not sep:
                continue
            _old_time, _, tail = rest.partition("] ")
            at = start + timedelta(seconds=i * 850)  # 6,000 lines over ~59 days, none in the future
            mine = i % 2 == 0  # every other line is the demo user's; the rest stay anonymous visitors
            cookie = (
                f'"{settings.id_cookie}={id_value}; {settings.pref_cookie}={terms}; _ga=GA1.2.{i}"'
                if mine
                else '"-"'
            )
            if mine and i % 97 == 0:
                tail = tail.replace(
                    '"-" "',
                    f'"https://www.google.com/search?q={rng.choice(SEARCHES).replace(" ", "+")}" "',
                    1,
                )
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
    Ingest(factory, settings, clock, fmt="events", site="demo").run([str(events)])
    if log.stat().st_size:
        Ingest(factory, settings, clock, fmt="combined_cookie", site="demo").run([str(log)])
    return DEMO_LOGINS
