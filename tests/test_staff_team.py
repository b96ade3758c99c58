"""Staff accounts: invitations by mail, a second factor with recovery codes shown once and stored only
as hashes, roles, and the rule that the team keeps an active admin. Every change is audited."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import text

from tests.conftest import STRONG_PASSWORD, Client, Portal
from tests.request_util import account_subject, audit_count
from tests.staff_util import sign_in, staff, staff_account

NEW = "newbie@example.org"
CODE = re.compile(r"<li><code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code></li>")


def _change(admin: Client, account_id: int, change: str, **data: str) -> str:
    r = admin.submit(f"/staff/team/{account_id}", {"change": change, **data}, form_page="/staff/team")
    assert r.status_code == 303
    return admin.get("/staff/team").text


def _enrol(portal: Portal, client: Client) -> list[str]:
    page = client.get("/login/mfa").text
    secret = page.split('id="totp-secret">')[1].split("<")[0]
    r = client.submit("/login/mfa", {"code": pyotp.TOTP(secret).at(portal.store.clock.now())})
    assert r.status_code == 200
    return CODE.findall(r.text)


def test_an_invited_colleague_sets_a_password_enrols_and_keeps_recovery_codes(portal: Portal) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    r = admin.submit("/staff/team/invite", {"email": NEW, "role": "agent"}, form_page="/staff/team")
    assert r.status_code == 303
    assert "Invited, not joined yet" in admin.get("/staff/team").text
    subject, body = portal.outbox(NEW)[-1]
    assert "invited" in subject and "3 days" in body
    link = re.search(r"http://testserver(/invite/\S+)", body).group(1)
    assert portal.client().submit("/login", {"email": NEW, "password": STRONG_PASSWORD}).status_code == 400

    newbie = portal.client()
    for _ in range(2):  # a mail scanner's GET uses nothing up
        assert "Choose a password for" in newbie.get(link).text
    weak = newbie.submit(link, {"password": "password1234"}, form_page=link)
    assert weak.status_code == 400 and "aria-invalid" in weak.text
    r = newbie.submit(link, {"password": STRONG_PASSWORD}, form_page=link)
    assert r.status_code == 303 and r.headers["location"] == "/login/mfa"
    assert newbie.get("/staff", follow_redirects=False).headers["location"] == "/login/mfa"
    codes = _enrol(portal, newbie)
    assert len(set(codes)) == 10
    assert newbie.get("/staff").status_code == 200
    assert portal.client().get(link).status_code == 400  # used

    with portal.store.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM link_token WHERE purpose = 'recovery'")).scalars().all()
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM link_token")).all())
    assert len(stored) == 10 and not any(c in dump or c.replace("-", "") in dump for c in codes)
    assert "1 active" not in admin.get("/staff/team").text and "10 recovery codes left" in admin.get("/staff/team").text

    # A lost phone: a recovery code works, once.
    newbie.submit("/logout")
    portal.store.clock.advance(seconds=30)
    for attempt in range(2):
        c = portal.client()
        c.submit("/login", {"email": NEW, "password": STRONG_PASSWORD})
        assert "Use a recovery code" in c.get("/login/mfa").text
        r = c.submit("/login/recovery", {"code": codes[0].lower()}, form_page="/login/recovery")
        if attempt == 0:
            home = c.get(r.headers["location"])
            assert r.status_code == 303 and home.status_code == 200 and "9 left" in home.text
        else:
            assert r.status_code == 400 and c.get("/staff", follow_redirects=False).status_code == 303
    for action, count in (("staff.invite", 1), ("staff.invite_accepted", 1), ("staff.recovery_codes", 1),
                          ("login.recovery_code", 1)):  # fmt: skip
        assert portal.store.scalar("SELECT count(*) FROM audit_entry WHERE action = :a", a=action) == count, action


def test_new_recovery_codes_replace_the_old_ones(portal: Portal) -> None:
    agent_id, secret = staff_account(portal.store, "agent@example.org")
    agent = sign_in(portal, "agent@example.org", secret)
    assert "<strong>no unused codes</strong>" in agent.get("/staff/account/recovery-codes").text
    first = CODE.findall(agent.submit("/staff/account/recovery-codes").text)
    second = CODE.findall(agent.submit("/staff/account/recovery-codes").text)
    assert len(first) == len(second) == 10 and not set(first) & set(second)
    c = portal.client()
    c.submit("/login", {"email": "agent@example.org", "password": STRONG_PASSWORD})
    assert c.submit("/login/recovery", {"code": first[0]}, form_page="/login/recovery").status_code == 400
    assert c.submit("/login/recovery", {"code": second[0]}, form_page="/login/recovery").status_code == 303


def test_invitations_refuse_an_address_that_already_has_an_account(portal: Portal) -> None:
    admin, _ = staff(portal, "admin@example.org", "admin")
    account_subject(portal.store, "member@example.org")
    r = admin.submit("/staff/team/invite", {"email": "member@example.org", "role": "admin"}, form_page="/staff/team")
    assert r.status_code == 400 and "already has an account" in r.text
    assert portal.store.scalar("SELECT role FROM account WHERE email = 'member@example.org'") == "user"
    assert portal.outbox("member@example.org") == []


def test_roles_change_and_the_last_admin_stays(portal: Portal) -> None:
    admin, admin_id = staff(portal, "admin@example.org", "admin")
    agent, agent_id = staff(portal, "agent@example.org", "agent")
    page = _change(admin, admin_id, "role", role="agent")
    assert "last active admin" in page and portal.store.scalar(f"SELECT role FROM account WHERE id = {admin_id}") == "admin"
    page = _change(admin, admin_id, "disable")
    assert "last active admin" in page and admin.get("/staff").status_code == 200
    page = _change(admin, admin_id, "reset_mfa")
    assert "Ask another admin" in page

    assert agent.get("/staff/team").status_code == 404
    _change(admin, agent_id, "role", role="admin")
    assert agent.get("/staff/team").status_code == 200  # effective on the next request
    _change(agent, admin_id, "role", role="agent")  # two admins: one may step down
    assert admin.get("/staff/team").status_code == 404
    assert audit_count(portal.store, "staff.role") == 2
