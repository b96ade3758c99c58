"""Mail goes to a real SMTP server (aiosmtpd on loopback) when PORTAL_SMTP_URL is set."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from portal import housekeeping
from portal.web.app import create_app
from tests.conftest import LINK_RE, STRONG_PASSWORD, Client, Portal


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_verification_mail_is_delivered_by_smtp_and_the_link_works(portal: Portal, smtp) -> None:  # type: ignore[no-untyped-def]
    inbox, port = smtp
    settings = replace(portal.store.settings, smtp_url=f"smtp://127.0.0.1:{port}")
    app = create_app(settings, clock=portal.store.clock, background=False)
    c = Client(app, base_url="http://testserver")
    c.submit("/register", {"email": "gina@example.com", "password": STRONG_PASSWORD})
    housekeeping.run_once(app.state.session_factory, settings, portal.store.clock)

    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["To"] == "gina@example.com" and msg["Subject"] == "Confirm your email address"
    body = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
    link = LINK_RE.search(body).group(1)  # type: ignore[union-attr]
    # Delivered mail's body (with its live link) is not kept in the store.
    assert portal.store.scalar("SELECT body FROM outbox_mail") == ""
    assert portal.store.scalar("SELECT sent_at IS NOT NULL FROM outbox_mail")
    assert c.submit(link).status_code == 303
    assert c.submit("/login", {"email": "gina@example.com", "password": STRONG_PASSWORD}).status_code == 303
    app.state.engine.dispose()


def test_an_unreachable_smtp_server_keeps_the_mail_queued(portal: Portal) -> None:
    settings = replace(portal.store.settings, smtp_url=f"smtp://127.0.0.1:{_free_port()}")
    c = portal.client()
    c.submit("/register", {"email": "hank@example.com", "password": STRONG_PASSWORD})
    housekeeping.run_once(portal.store.factory, settings, portal.store.clock)
    assert portal.store.scalar("SELECT sent_at FROM outbox_mail") is None
    assert "ConnectionRefusedError" in str(portal.store.scalar("SELECT last_error FROM outbox_mail"))
    assert "/verify/" in str(portal.store.scalar("SELECT body FROM outbox_mail"))
