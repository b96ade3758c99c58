"""The one password context (argon2id) and the password policy."""

from __future__ import annotations

from passlib.context import CryptContext
from zxcvbn import zxcvbn

from portal.core.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline attacks"

# OWASP/ASVS 5.0 Appendix C minimum for argon2id: m=19 MiB, t=2, p=1.
CONTEXT = CryptContext(
    schemes=["argon2"],
    argon2__type="ID",
    argon2__memory_cost=19456,
    argon2__time_cost=2,
    argon2__parallelism=1,
)
# Verified against when an email is unknown, so that path costs the same hashing time.
_DUMMY_HASH = CONTEXT.hash("portal-dummy-password-for-timing")


def hash_password(password: str) -> str:
    return CONTEXT.hash(password)


def verify(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (ok, new_hash) where new_hash is set if the stored hash is outdated."""
    if password_hash is None:
        CONTEXT.verify(password, _DUMMY_HASH)
        return False, None
    ok, new_hash = CONTEXT.verify_and_update(password, password_hash)
    return bool(ok), new_hash


def check_policy(password: str, *, email: str = "", field: str = "password") -> None:
    """Raise ValidationError with advice when a password is too short, too long or guessable."""
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"Use at least {MIN_LENGTH} characters.", field)
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"Use at most {MAX_LENGTH} characters.", field)
    local = email.split("@", 1)[0]
    result = zxcvbn(password, user_inputs=[email, local, "privacy", "portal"], max_length=MAX_LENGTH)
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hints = [feedback.get("warning") or "This password is easy to guess."]
        hints += feedback.get("suggestions") or []
        advice = " ".join(h.rstrip(".") + "." for h in hints if h)
        raise ValidationError(
            f"{advice} A few unrelated words or a password manager's suggestion work well.", field
        )
