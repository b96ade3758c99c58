"""Staff acting on requests from the back-office: one function per button, each one transaction with
one audit entry per request (portal/requests/actions.py and the four-eyes steps do the work), and
bulk approval or refusal, one request (and one audit entry) at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from portal.core.context import Ctx
from portal.core.errors import PortalError, ValidationError
from portal.requests import actions, copies, foureyes, onbehalf
from portal.requests.statuses import TransitionRefused

BULK_ACTIONS = ("approve", "deny")
MAX_BULK = 50


@dataclass(frozen=True)
class Done:
    message: str
    receipt: int
    export_id: int | None = None  # a copy was prepared: build its zip now
    hand_over: bool = False  # an erasure was started: give it to the erasure engine now


def _int(raw: str, what: str) -> int:
    value = raw.strip()
    if not (value.isdigit() and len(value) < 4):
        raise ValidationError(f"Choose the {what}.", what)
    return int(value)


def _forward(ctx: Ctx, request_id: int) -> None:
    onbehalf.check_confirmed(actions.get(ctx, request_id))


def _extend(ctx: Ctx, request_id: int, text: str, form: Mapping[str, str]) -> int:
    months = _int(form.get("months", "") or "0", "months")
    days = _int(form.get("days", "") or "0", "days")
    return actions.extend(ctx, request_id, text, months=months, days=days)


def _assign(ctx: Ctx, request_id: int, raw: str) -> Done:
    raw = raw.strip()
    if raw in ("", "nobody"):
        return Done("Unassigned.", actions.assign(ctx, request_id, None))
    return Done("Assigned.", actions.assign(ctx, request_id, _int(raw, "assignee")))


def _run_erasure(ctx: Ctx, request_id: int) -> Done:
    row = actions.get(ctx, request_id, lock=False)
    if row.kind != "erasure" or row.status != "in_progress":
        raise TransitionRefused("Only an erasure in progress can be handed to the erasure engine.")
    return Done("Handed to the erasure engine again.", 0, hand_over=True)


def _copy(prepared: copies.Prepared, message: str) -> Done:
    return Done(message, prepared.receipt, export_id=prepared.export_id)


def act(ctx: Ctx, request_id: int, action: str, form: Mapping[str, str]) -> Done:
    """Carry out one button of the request page; raises PortalError (nothing changed) when refused."""
    text = form.get("reason", "") or form.get("message", "")
    if action in ("verify", "approve", "start", "complete"):
        _forward(ctx, request_id)
    steps: dict[str, Callable[[], Done]] = {
        "verify": lambda: Done("Identity confirmed: under review.", actions.verify_identity(ctx, request_id)),
        "approve": lambda: Done("Approved.", actions.approve(ctx, request_id)),
        "start": lambda: Done("Started.", actions.start(ctx, request_id)),
        "complete": lambda: Done("Completed; the person was told.", actions.complete(ctx, request_id, text)),
        "deny": lambda: Done(
            "Refused; the person was sent the reason and their right to complain.",
            actions.deny(ctx, request_id, text),
        ),
        "hold": lambda: Done("Put on hold.", actions.hold(ctx, request_id, text)),
        "resume": lambda: Done("Released from hold.", actions.resume(ctx, request_id)),
        "extend": lambda: Done(
            "Deadline extended; the person was told why.", _extend(ctx, request_id, text, form)
        ),
        "assign": lambda: _assign(ctx, request_id, form.get("assignee", "")),
        "note": lambda: Done(
            "Note added (staff only).", actions.add_note(ctx, request_id, form.get("body", ""))
        ),
        "confirm_erasure": lambda: Done(
            "Erasure confirmed and started: it runs now, and this page shows how far it got.",
            foureyes.confirm_erasure(ctx, request_id),
            hand_over=True,
        ),
        "run_erasure": lambda: _run_erasure(ctx, request_id),
        "prepare_copy": lambda: _copy(
            copies.prepare(ctx, request_id), "The copy is prepared; a second member of staff sends it."
        ),
        "prepare_again": lambda: _copy(copies.prepare_again(ctx, request_id), "The copy is prepared again."),
        "release_copy": lambda: Done(
            "The copy was sent to the person; the request is completed.", copies.release(ctx, request_id)
        ),
    }
    if action not in steps:
        raise ValidationError("Unknown action.")
    return steps[action]()


@dataclass
class Bulk:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def bulk(
    open_ctx: Callable[[], AbstractContextManager[Ctx]], ids: Iterable[int], action: str, reason: str
) -> Bulk:
    """Approve or refuse several requests, each in its own transaction (one refusal stops no other)."""
    if action not in BULK_ACTIONS:
        raise ValidationError("Choose approve or refuse.", "action")
    chosen = sorted(set(ids))
    if not chosen:
        raise ValidationError("Tick at least one request.", "ids")
    if len(chosen) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} requests at a time.", "ids")
    if action == "deny" and not reason.strip():
        raise ValidationError("Say why: every person is sent this reason.", "reason")
    out = Bulk()
    for request_id in chosen:
        try:
            with open_ctx() as ctx:
                act(ctx, request_id, action, {"reason": reason})
        except PortalError as exc:
            out.refused.append((request_id, str(exc)))
        else:
            out.done.append(request_id)
    return out


def describe(out: Bulk, action: str) -> str:
    verb = {"approve": "Approved", "deny": "Refused"}[action]
    words = [f"{verb}: {', '.join(f'no. {i}' for i in out.done) or 'none'}."]
    words += [f"No. {i} was not changed: {why}" for i, why in out.refused]
    return " ".join(words)
