"""The audit area: the one writer (re-exported here, so callers write `audit.record(...)`), the
Merkle tree, signed checkpoints, the verifier and receipts."""

from portal.audit.writer import (
    FORMAT_VERSION,
    GENESIS,
    canonical_entry,
    details_digest,
    details_of,
    entries_for_subject,
    entry_hash_of,
    erase_details,
    format_time,
    record,
    subject_ref,
)

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "canonical_entry",
    "details_digest",
    "details_of",
    "entries_for_subject",
    "erase_details",
    "entry_hash_of",
    "format_time",
    "record",
    "subject_ref",
]
