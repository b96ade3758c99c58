"""Every audit action the portal records, in words a person reads.

The codes (`search_preference.delete`, `subject.link`) stay in the log, where the verifier, the
staff filter and the export's CSV/JSON need them; pages show `words(code)` instead: the person's
receipts and request timelines, the staff audit viewer (beside the code), the export's index.html.
One table, so an action added anywhere gets its words here: tests/test_action_words.py reads every
`audit.record(...)` call in portal/ and fails for a code missing from it.
"""

from __future__ import annotations

from portal.models.consent import CONSENT_FIELDS
from portal.models.requests import REQUEST_STATUSES

# Words for a request reaching a status (request.<status>), as the person's timeline says them.
_REQUEST_STATUS_WORDS = {
    "received": "Received your request",
    "identity_pending": "Started checking who made your request",
    "in_review": "Started reviewing your request",
    "approved": "Approved your request",
    "in_progress": "Started carrying out your request",
    "completed": "Completed your request",
    "denied": "Refused your request",
    "on_hold": "Put your request on hold",
    "cancelled": "Cancelled your request",
    "extended": "Extended your request's deadline",
}
# consent.<field>.on / .off
_CONSENT_WORDS = {
    ("personalization", True): "Turned personalised content on",
    ("personalization", False): "Turned personalised content off",
    ("marketing", True): "Allowed marketing use of your data",
    ("marketing", False): "Stopped marketing use of your data",
    ("email", True): "Subscribed you to promotional email",
    ("email", False): "Unsubscribed you from promotional email",
}

WORDS: dict[str, str] = {
    # Your account
    "account.register": "Created your account",
    "account.register_existing": "Someone tried to register again with your email address",
    "account.verify_email": "Confirmed your email address",
    "account.verification_resent": "Sent the confirmation email again",
    "account.password_change": "Changed your password",
    "account.reset_requested": "Sent a password reset link",
    "account.password_reset": "Reset your password",
    "account.time_zone": "Changed your time zone",
    "account.email_change_requested": "Sent a link to confirm your new email address",
    "account.email_change": "Changed your email address",
    # Signing in
    "login.ok": "Logged you in",
    "login.failed": "Refused a login with a wrong password",
    "login.disabled": "Refused a login to a disabled account",
    "login.unverified": "Refused a login before the email address was confirmed",
    "login.mfa_ok": "Accepted a login code",
    "login.mfa_failed": "Refused a wrong login code",
    "login.recovery_code": "Logged in with a recovery code",
    "logout": "Logged you out",
    "reauth.ok": "Confirmed your password again",
    "reauth.failed": "Refused a wrong password when confirming it again",
    "access.denied": "Refused to show something that belongs to someone else",
    # Your data
    "cookie.delete": "Deleted a cookie record",
    "cookie.delete_all": "Deleted all your cookie records",
    "search_preference.delete": "Deleted a search term",
    "search_preference.delete_all": "Deleted all your search terms",
    "search_preferences.delete": "Deleted your search terms",
    "browser.delete": "Deleted what this browser left on the site",
    "subject.link": "Linked a browser to your account",
    "subject.link_refused": "Did not link a browser to your account",
    "subject.relink": "Linked records again after a change of rules",
    "retention.run": "Deleted records past their keeping time",
    # Downloads
    "export.create": "Prepared a download",
    "export.download": "Downloaded your data",
    "export.download_refused": "Refused a download link",
    # Requests
    "request.joined": "You asked again (joined to your open request)",
    "request.reminder": "Reminded staff of your request's deadline",
    "request.confirm_reminder": "Reminded you to confirm your request",
    "request.assign": "Assigned your request to a staff member",
    "request.note": "Staff noted something on your request",
    "request.copy_prepared": "Prepared a copy of your data for your request",
    "erasure.started": "Started erasing your data",
    "erasure.batch": "Erased a batch of your records",
    # Staff work
    "staff.add": "Made an account a staff account",
    "staff.invite": "Invited a staff member",
    "staff.invite_accepted": "A staff member accepted an invitation",
    "staff.role": "Changed a staff member's role",
    "staff.disable": "Disabled a staff account",
    "staff.enable": "Enabled a staff account",
    "staff.mfa_reset": "Reset a staff member's login codes",
    "staff.recovery_codes": "Made new recovery codes",
    "staff.lookup": "Staff looked you up",
    "staff.lookup.ip": "Staff looked up an IP address",
    "staff.view.data": "Staff viewed your data",
    "staff.view.quarantine": "Staff viewed rejected log lines",
    "staff.view.request_text": "Staff read the text of your request",
    # The portal's own work
    "audit.verify_started": "Started checking the audit log",
    "audit.verify_finished": "Finished checking the audit log",
    "catalog.seed": "Set up the cookie catalog",
    "catalog.update": "Changed the cookie catalog",
    "ingest.run": "Read the site's access logs",
    "ingest.batch": "Stored a batch of access-log lines",
    "demo.accounts": "Created the demo accounts",
}
WORDS.update({f"request.{status}": _REQUEST_STATUS_WORDS[status] for status in REQUEST_STATUSES})
WORDS.update(
    {
        f"consent.{field}.{'on' if on else 'off'}": _CONSENT_WORDS[field, on]
        for field in CONSENT_FIELDS
        for on in (True, False)
    }
)


def words(action: str) -> str:
    """The action in words; an unknown code (an old entry of an action since renamed) in general words."""
    found = WORDS.get(action)
    if found is not None:
        return found
    area = action.split(".", 1)[0]
    return f"Recorded an event ({area.replace('_', ' ')})"
