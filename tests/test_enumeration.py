"""Registration, login and forgot-password answer the same whether or not an email is registered."""

from __future__ import annotations

import statistics
import time

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


def test_unknown_email_spends_the_same_hashing_time(portal: Portal) -> None:
    """A missing account still runs argon2id; without it, unknown emails answer measurably faster."""
    portal.verified_user(portal.client(), KNOWN)

    def median_login_seconds(email: str) -> float:
        times = []
        for i in range(5):
            c = portal.client(ip=f"198.51.100.{i + 1}")
            token = c.csrf("/login")
            start = time.perf_counter()
            c.post("/login", data={"email": email, "password": "wrong-pass", "csrf_token": token})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = median_login_seconds(KNOWN), median_login_seconds(UNKNOWN)
    # argon2id (m=19 MiB, t=2) dominates both; a skipped hash would make `unknown` several times faster.
    assert unknown > 0.6 * known, (known, unknown)
