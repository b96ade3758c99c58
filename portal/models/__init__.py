"""The store's tables. The schema itself is created only by the Alembic migrations in alembic/."""

from portal.models.accounts import (
    ROLES,
    STAFF_ROLES,
    Account,
    LinkToken,
    OutboxMail,
    Subject,
    Throttle,
    WebSession,
)
from portal.models.audit import AuditCheckpoint, AuditDetail, AuditEntry
from portal.models.base import metadata

__all__ = [
    "ROLES",
    "STAFF_ROLES",
    "Account",
    "AuditCheckpoint",
    "AuditDetail",
    "AuditEntry",
    "LinkToken",
    "OutboxMail",
    "Subject",
    "Throttle",
    "WebSession",
    "metadata",
]
