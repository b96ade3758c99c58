"""The store's tables. The schema itself is created only by the Alembic migrations in alembic/."""

from portal.models.accounts import (
    ROLES,
    STAFF_ROLES,
    Account,
    LinkToken,
    MailRequest,
    OutboxMail,
    Subject,
    Throttle,
    WebSession,
)
from portal.models.audit import AuditCheckpoint, AuditDetail, AuditEntry
from portal.models.backoffice import AuditVerifyRun, RequestConfirmation, RequestCopy
from portal.models.base import MAX_BIGINT, MAX_INTEGER, metadata
from portal.models.consent import CONSENT_FIELDS, CONSENT_VIA, Consent, ConsentEvent
from portal.models.exports import DataExport
from portal.models.ingest import IngestRun, IngestSource, QuarantinedLine, UnclassifiedCookie
from portal.models.requests import DataRequest, ErasureRun, RequestEvent, RequestNote
from portal.models.sitedata import (
    CatalogCookie,
    Identifier,
    LogRecord,
    PromoEmail,
    SearchPreference,
    SiteAccount,
    SubjectLink,
)
from portal.models.suppression import ErasedIdentifier, Suppression

__all__ = [
    "AuditVerifyRun",
    "RequestConfirmation",
    "RequestCopy",
    "CONSENT_FIELDS",
    "CONSENT_VIA",
    "CatalogCookie",
    "Consent",
    "ConsentEvent",
    "DataExport",
    "DataRequest",
    "ErasedIdentifier",
    "ErasureRun",
    "Identifier",
    "IngestRun",
    "IngestSource",
    "LogRecord",
    "PromoEmail",
    "RequestEvent",
    "RequestNote",
    "QuarantinedLine",
    "SearchPreference",
    "SiteAccount",
    "Suppression",
    "SubjectLink",
    "UnclassifiedCookie",
    "ROLES",
    "STAFF_ROLES",
    "Account",
    "AuditCheckpoint",
    "AuditDetail",
    "AuditEntry",
    "LinkToken",
    "MailRequest",
    "OutboxMail",
    "Subject",
    "Throttle",
    "WebSession",
    "metadata",
    "MAX_BIGINT",
    "MAX_INTEGER",
]
