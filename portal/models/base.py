"""Naming convention and metadata shared by every table module."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlmodel import SQLModel

# Stable constraint names make migrations reproducible on SQLite (batch mode) and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata

# The largest value of an Integer column on both stores (PostgreSQL INTEGER is 32-bit; SQLAlchemy
# casts parameters to it, so a larger number compared with one is an error, not "no such row").
MAX_INTEGER = 2**31 - 1
MAX_BIGINT = 2**63 - 1
