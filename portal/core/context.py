"""The unit of work every service receives: an open transaction, settings, time and who acts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.core.settings import Settings


@dataclass
class Ctx:
    session: Session
    settings: Settings
    now: datetime
    # "account:<id>", "system" or "site"; "anonymous" for a visitor without an account.
    actor: str = "system"
    ip: str | None = None

    def as_account(self, account_id: int) -> Ctx:
        self.actor = f"account:{account_id}"
        return self
