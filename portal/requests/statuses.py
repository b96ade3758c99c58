"""Which status may follow which, and the words the person reads for each.

The main path is received → identity_pending → in_review → approved → in_progress → completed;
no request skips a step. on_hold and extended pause a request and lead back to the status it was
paused from (`paused_from`); denied, cancelled and completed are final. `cancelled` is the
person's own choice while the request is still waiting (not once it is being carried out).
"""

from __future__ import annotations

from portal.core.errors import PortalError
from portal.models.requests import CLOSED_STATUSES

MAIN_PATH = ("received", "identity_pending", "in_review", "approved", "in_progress", "completed")
PAUSED = ("on_hold", "extended")
# Marks, in ALLOWED, the move back to the status a paused request was paused from.
RESUME = "resume"

ALLOWED: dict[str, frozenset[str]] = {
    "received": frozenset({"identity_pending", "denied", "cancelled"}),
    "identity_pending": frozenset({"in_review", "denied", "on_hold", "extended", "cancelled"}),
    "in_review": frozenset({"approved", "denied", "on_hold", "extended", "cancelled"}),
    "approved": frozenset({"in_progress", "on_hold", "extended", "cancelled"}),
    "in_progress": frozenset({"completed", "on_hold", "extended"}),
    "on_hold": frozenset({RESUME, "cancelled"}),
    "extended": frozenset({RESUME, "cancelled"}),
    "completed": frozenset(),
    "denied": frozenset(),
    "cancelled": frozenset(),
}
# Transitions that must say why (the reason is shown to the person, and mailed for denied/extended).
NEEDS_REASON = frozenset({"denied", "on_hold", "extended"})

LABELS = {
    "received": "Received",
    "identity_pending": "Checking who you are",
    "in_review": "Being reviewed",
    "approved": "Approved",
    "in_progress": "Being carried out",
    "completed": "Completed",
    "denied": "Refused",
    "on_hold": "On hold",
    "cancelled": "Cancelled",
    "extended": "Deadline extended",
}
KIND_LABELS = {
    "access": "Copy of my data (access)",
    "erasure": "Erase my data",
    "objection": "Objection",
    "unsubscribe": "Unsubscribe from promotional email",
    "rectification": "Correct my data (rectification)",
    "restriction": "Pause the use of my data (restriction)",
}


class TransitionRefused(PortalError):
    """A status change the rules do not allow; nothing was changed."""


def is_closed(status: str) -> bool:
    return status in CLOSED_STATUSES


def check(current: str, target: str, paused_from: str | None) -> None:
    """Raise TransitionRefused unless `current` may become `target`."""
    allowed = ALLOWED.get(current, frozenset())
    if target in allowed:
        return
    if RESUME in allowed and target == paused_from:
        return
    here, there = LABELS.get(current, current), LABELS.get(target, target)
    raise TransitionRefused(f"A request that is “{here}” cannot become “{there}”.")


def targets(current: str, paused_from: str | None) -> list[str]:
    """Every status `current` may move to, resumption resolved."""
    out = [t for t in ALLOWED.get(current, frozenset()) if t != RESUME]
    if RESUME in ALLOWED.get(current, frozenset()) and paused_from:
        out.append(paused_from)
    return sorted(out, key=lambda s: list(LABELS).index(s))
