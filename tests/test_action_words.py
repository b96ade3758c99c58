"""Words, not codes: every audit action the portal records has words (portal/audit/actions.py), and
the pages a person reads (receipts, a receipt, the receipt checker) show those words, never a code
such as `search_preference.delete`."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

from portal.audit.actions import WORDS, words
from portal.models.consent import CONSENT_FIELDS
from portal.models.requests import REQUEST_STATUSES
from tests import sitedata_factory as f
from tests.conftest import STRONG_PASSWORD, Client, Portal

PORTAL = Path(__file__).resolve().parents[1] / "portal"
# Call sites whose action is computed, and every code each can make. A new computed action fails
# test_every_recorded_action_has_words until it is listed here (and so given words).
COMPUTED = {
    ("requests/timeline.py", "audit_action"): set(),  # passed in by the two callers below
    ("requests/timeline.py", "f'request.{action}'"): {"request.joined"},  # timeline.line: only "joined"
    ("requests/timeline.py", "f'request.{to}'"): {f"request.{s}" for s in REQUEST_STATUSES},
    ("subjects/retention.py", "ACTION"): {"retention.run"},
    ("subjects/consent.py", "f\"consent.{field}.{('on' if value else 'off')}\""): {
        f"consent.{field}.{state}" for field in CONSENT_FIELDS for state in ("on", "off")
    },
}


def recorded_actions() -> tuple[set[str], set[tuple[str, str]]]:
    """The literal action codes of every audit.record(...) call (and timeline's audit_action=) in
    portal/, and the call sites whose action is an expression."""
    literal: set[str] = set()
    computed: set[tuple[str, str]] = set()
    for path in PORTAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            found = [node.args[1]] if name == "record" and len(node.args) >= 2 else []
            found += [kw.value for kw in node.keywords if kw.arg == "audit_action"]
            for arg in found:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    literal.add(arg.value)
                else:
                    computed.add((path.relative_to(PORTAL).as_posix(), ast.unparse(arg)))
    return literal, computed


def test_every_recorded_action_has_words() -> None:
    literal, computed = recorded_actions()
    assert len(literal) > 50  # the scan finds the calls (it would pass vacuously otherwise)
    assert computed == set(COMPUTED), "a computed audit action: list its codes in COMPUTED"
    codes = literal | set().union(*COMPUTED.values())
    missing = sorted(code for code in codes if code not in WORDS)
    assert not missing, f"audit actions without words in portal/audit/actions.py: {missing}"
    for code in codes:
        text = WORDS[code]
        assert text[0].isupper() and "." not in text and "_" not in text, (code, text)


def test_the_examples_of_the_issue_and_an_unknown_code() -> None:
    assert words("search_preference.delete") == "Deleted a search term"
    assert words("subject.link") == "Linked a browser to your account"
    assert words("export.create") == "Prepared a download"
    assert "." not in words("gone.from_the_code")


def _visible(page: str) -> str:
    """The text a reader sees: no tags, no attribute values (hrefs), entities decoded."""
    body = re.sub(r"<(script|style|head)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _no_codes(text: str, where: str) -> None:
    shown = [code for code in WORDS if re.search(rf"(?<![\w.]){re.escape(code)}(?![\w.])", text)]
    assert not shown, f"{where} shows action codes {shown}"


def _busy_person(portal: Portal) -> tuple[Client, int]:
    client = portal.client()
    portal.verified_user(client, "ann@example.com")
    me = f.account_subject(portal.store, "ann@example.com")
    f.cookie(portal.store, me, "site_id", "ann-identifier-0001")
    f.preference(portal.store, me, "cheap flights")
    f.preference(portal.store, me, "café paris")
    first = re.search(r'href="/my/search/(\d+)/delete"', client.get("/my/search").text)
    assert first is not None
    assert client.submit(f"/my/search/{first.group(1)}/delete").status_code == 303
    assert client.submit("/my/search/delete").status_code == 303
    assert client.submit("/my/cookies/delete").status_code == 303
    return client, me


def test_receipts_say_what_happened_in_words(portal: Portal) -> None:
    client, _ = _busy_person(portal)
    page = client.get("/my/receipts").text
    listing = _visible(page)
    for said in ("Created your account", "Confirmed your email address", "Logged you in",
                 "Deleted a search term", "Deleted all your search terms", "Deleted all your cookie records"):
        assert said in listing, said
    _no_codes(listing, "/my/receipts")
    for seq in re.findall(r'href="/my/receipts/(\d+)"', page):
        receipt = client.get(f"/my/receipts/{seq}")
        assert receipt.status_code == 200
        _no_codes(_visible(receipt.text), f"/my/receipts/{seq}")
        checked = client.submit("/receipts/verify", {"receipt": client.get(f"/my/receipts/{seq}.json").text},
                                form_page="/receipts/verify")
        assert "The receipt is valid" in checked.text
        _no_codes(_visible(checked.text), "the receipt checker")


def test_staff_audit_viewer_shows_the_words_beside_the_code(portal: Portal) -> None:
    from tests.staff_util import staff

    _busy_person(portal)
    admin, _ = staff(portal, "admin@example.org", "admin")
    listing = admin.get("/staff/audit?action=search_preference.delete").text
    assert "Deleted a search term <code>search_preference.delete</code>" in listing
    seq = re.search(r'<a href="/staff/audit/(\d+)">', listing)
    assert seq is not None
    entry = admin.get(f"/staff/audit/{seq.group(1)}").text
    # The filter matches by prefix: the newest is search_preference.delete_all.
    assert "<small>Deleted all your search terms</small>" in entry
    assert "Deleted all your search terms <code>search_preference.delete_all</code>" in entry


def test_no_page_a_person_sees_shows_an_action_code(portal: Portal) -> None:
    from tests.routes_util import each_route

    client, _ = _busy_person(portal)
    r = client.submit("/my/requests/new", {"kind": "access", "password": STRONG_PASSWORD},
                      form_page="/my/requests/new?kind=access")  # fmt: skip
    assert r.status_code == 303, r.text
    extra = [r.headers["location"]]
    seen = 0
    for name, _, path in each_route({"GET"}):
        if name.startswith("staff.") or name == "static" or path.endswith(".json"):
            continue
        page = client.get(path)
        if page.status_code == 200 and page.headers["content-type"].startswith("text/html"):
            _no_codes(_visible(page.text), path)
            seen += 1
    for path in extra:
        _no_codes(_visible(client.get(path).text), path)
    assert seen > 20
