"""Demo data for `make run`: idempotent, clearly fake, never loaded outside `portal demo`."""

from __future__ import annotations

from dataclasses import dataclass

from portal import accounts, audit, passwords
from portal.context import Ctx

# Printed by `make run`; demo data only.
DEMO_PASSWORD = "demo-otter-lantern-velvet"  # noqa: S105


STAFF_NOTE = "staff: sets up a second factor at first login"


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


def load(ctx: Ctx) -> tuple[DemoLogin, ...]:
    """Create the demo accounts that do not exist yet; existing ones are left as they are."""
    created = []
    for login in DEMO_LOGINS:
        if accounts.by_email(ctx, login.email) is not None:
            continue
        if login.role == "user":
            account = accounts._create(  # noqa: SLF001  (demo accounts skip the mailed link)
                ctx, login.email, passwords.hash_password(login.password), "user", verified=True
            )
        else:
            account = accounts.add_staff(ctx, login.email, login.role, login.password)
        created.append(account.subject_id)
    if created:
        audit.record(ctx, "demo.load", details={"accounts": len(created)})
    return DEMO_LOGINS
