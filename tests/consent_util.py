"""Helpers shared by the consent, GPC and receipt tests."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from tests.conftest import Client, Portal

RECEIPT_LINK = re.compile(r'href="/my/receipts/(\d+)"')


def subject_of(portal: Portal, email: str) -> int:
    return int(portal.store.scalar("SELECT subject_id FROM account WHERE email = :e", e=email))  # type: ignore[arg-type]


def user(portal: Portal, email: str) -> tuple[Client, int]:
    client = portal.client()
    portal.verified_user(client, email)
    return client, subject_of(portal, email)


def audit_rows(portal: Portal, action_prefix: str = "") -> list[tuple[Any, ...]]:
    with portal.store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT e.seq, e.action, e.actor, d.details FROM audit_entry e "
                    "JOIN audit_detail d ON d.seq = e.seq WHERE e.action LIKE :p ORDER BY e.seq"
                ),
                {"p": action_prefix + "%"},
            )
        ]


def consent_row(portal: Portal, subject_id: int) -> tuple[Any, ...] | None:
    with portal.store.engine.connect() as conn:
        row = conn.execute(
            text("SELECT personalization, marketing, email FROM consent WHERE subject_id = :s"), {"s": subject_id}
        ).first()
    return None if row is None else tuple(bool(v) for v in row)
