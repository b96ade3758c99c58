"""Registration, login and forgot-password answer the same whether or not an email is registered."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from portal.models import metadata
from tests.conftest import STRONG_PASSWORD, Portal

KNOWN, UNKNOWN = "known@example.com", "nobody@example.com"


def _shape(response):  # type: ignore[no-untyped-def]
    body = response.text.replace(KNOWN, "EMAIL").replace(UNKNOWN, "EMAIL")
    return response.status_code, body, response.headers.get("location"), response.headers.get_list("set-cookie")


def test_register_known_and_unknown_answer_identically(portal: Portal) -> None:
    portal.verified_user(portal.client(), KNOWN)
    c = portal.client()
    c.get("/register")
    a = c.submit("/register", {"email": KNOWN, "password": STRONG_PASSWORD})
    b = c.submit("/register", {"email": UNKNOWN, "password": STRONG_PASSWORD})
    assert _shape(a) == _shape(b)
    # The owner of the known address is told someone tried; nobody learns it on the page.
    assert portal.outbox(KNOWN)[-1][0] == "Someone tried to register with your email"


def test_login_unknown_email_and_wrong_password_answer_identically(portal: Portal) -> None:
    portal.verified_user(portal.client(), KNOWN)
    c = portal.client()
    c.get("/login")
    a = c.submit("/login", {"email": KNOWN, "password": "wrong-" + STRONG_PASSWORD})
    b = c.submit("/login", {"email": UNKNOWN, "password": "wrong-" + STRONG_PASSWORD})
    assert _shape(a) == _shape(b)
    assert a.status_code == 400


def test_forgot_password_answers_identically(portal: Portal) -> None:
    portal.verified_user(portal.client(), KNOWN)
    c = portal.client()
    c.get("/password/forgot")
    a = c.submit("/password/forgot", {"email": KNOWN})
    b = c.submit("/password/forgot", {"email": UNKNOWN})
    assert _shape(a) == _shape(b)
    assert portal.outbox(UNKNOWN) == []


def _paired(pairs: int, known: Callable[[int], float], unknown: Callable[[int], float]) -> tuple[float, float, float]:
    """(median of known − unknown over adjacent pairs, its noise, the median time). Samples alternate
    and which of a pair goes first alternates too, so load from other processes falls on both sides
    alike; the noise is the standard error of that median, estimated from the pairs' own spread."""
    diffs, times = [], []
    for i in range(pairs):
        if i % 2:
            u, k = unknown(i), known(i)
        else:
            k, u = known(i), unknown(i)
        diffs.append(k - u)
        times += [k, u]
    middle = statistics.median(diffs)
    spread = statistics.median(abs(d - middle) for d in diffs) * 1.4826  # MAD, as a standard deviation
    return middle, 1.2533 * spread / math.sqrt(pairs), statistics.median(times)


def _assert_same_time(diff: float, noise: float, typical: float, floor: float) -> None:
    """The medians may differ by what the noise explains (4 standard errors: a false alarm once in ~16,000
    runs) or by a small share of the time; more than both tells the emails apart."""
    limit = max(4 * noise, floor * typical)
    assert abs(diff) <= limit, (
        f"known − unknown = {diff * 1000:.2f} ms (noise {noise * 1000:.2f} ms) of a typical {typical * 1000:.2f} ms"
    )


def _timed(portal: Portal, i: int, path: str, data: dict[str, str]) -> float:
    """One POST from a fresh client (its own address, so no budget runs out), timed alone."""
    c = portal.client(ip=f"198.51.{i // 250}.{i % 250 + 1}")
    token = c.csrf(path)
    start = time.perf_counter()
    r = c.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
    elapsed = time.perf_counter() - start
    assert r.status_code in (200, 303, 400), r.status_code
    return elapsed


def test_forgot_password_takes_as_long_for_a_known_and_an_unknown_email(portal: Portal) -> None:
    portal.verified_user(portal.client(), KNOWN)
    # Before the fix a known address took 1.7× as long as an unknown one (8.0 ms vs 4.6 ms).
    measured = _paired(
        60,
        lambda i: _timed(portal, i, "/password/forgot", {"email": KNOWN}),
        lambda i: _timed(portal, i + 1000, "/password/forgot", {"email": f"nobody{i}@example.com"}),
    )
    _assert_same_time(*measured, floor=0.1)


def _counts(portal: Portal) -> dict[str, int]:
    with portal.store.engine.connect() as conn:
        return {t.name: int(conn.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()) for t in metadata.sorted_tables}


@pytest.mark.parametrize(("path", "extra"), [("/register", {"password": STRONG_PASSWORD}), ("/password/forgot", {})])
def test_the_answer_does_the_same_work_for_a_known_and_an_unknown_email(portal: Portal, path: str, extra: dict[str, str]) -> None:
    """What a form does before it answers leaves the same rows either way (so it takes the same time):
    the lookup, the account, the link and the mail are the background sender's work."""
    portal.verified_user(portal.client(), KNOWN)
    changes = []
    for email in (KNOWN, UNKNOWN):
        c = portal.client(ip=f"198.51.100.{len(changes) + 1}")
        token = c.csrf(path)
        before = _counts(portal)
        assert c.post(path, data={"email": email, "csrf_token": token, **extra}, follow_redirects=False).status_code in (200, 303)
        after = _counts(portal)
        changes.append({name: after[name] - before[name] for name in after if after[name] != before[name]})
    assert changes[0] == changes[1] == {"mail_request": 1, "throttle": 1}
    # The background sender's round then does what each asked.
    portal.send_requested_mail()
    assert portal.store.scalar("SELECT count(*) FROM mail_request") == 0
    if path == "/register":
        assert portal.outbox(KNOWN)[-1][0] == "Someone tried to register with your email"
        assert portal.outbox(UNKNOWN)[-1][0] == "Confirm your email address"
    else:
        assert portal.outbox(KNOWN)[-1][0] == "Reset your password" and portal.outbox(UNKNOWN) == []


def test_login_with_an_unknown_email_spends_the_same_hashing_time(portal: Portal) -> None:
    """A missing account still runs argon2id; without it, unknown emails answer several times faster."""
    portal.verified_user(portal.client(), KNOWN)

    def attempt(email: str, i: int) -> float:
        # Five failures lock an email: forget the counters so every sample does the full work.
        with portal.store.engine.begin() as conn:
            conn.execute(text("DELETE FROM throttle"))
        return _timed(portal, i, "/login", {"email": email, "password": "wrong-pass"})

    # A skipped hash would make the difference most of the time.
    _assert_same_time(*_paired(12, lambda i: attempt(KNOWN, i), lambda i: attempt(UNKNOWN, i + 1000)), floor=0.25)
