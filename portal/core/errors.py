"""The project's own exceptions; the web layer maps them to pages, the CLI to exit codes."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error a user or operator can cause."""


class ConfigError(PortalError):
    """A setting is missing or malformed; startup stops with this one line."""


class ValidationError(PortalError):
    """Input that cannot be accepted; `field` names the form field it belongs to."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PortalError):
    """The thing does not exist, or the caller may not know that it does."""


class Throttled(PortalError):
    """Too many failures; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts. Try again in {max(1, retry_after // 60)} minutes.")
        self.retry_after = retry_after


class AuthFailed(PortalError):
    """Credentials were wrong (deliberately vague)."""


class TokenInvalid(PortalError):
    """A link token is unknown, used or expired."""


class AuditError(PortalError):
    """The audit log could not be written; the change it belongs to must not happen."""
