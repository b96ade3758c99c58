"""The JSON Schema of data.json, derived from the same category list the export reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from portal.subjects import registry
from portal.subjects.registry import Category

FORMAT = "privacy-portal-export/1"
_TYPES: dict[type, dict[str, Any]] = {
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    float: {"type": "number"},
    str: {"type": "string"},
    datetime: {"type": "string", "format": "date-time"},
}
_TEXT = {"type": "string"}


def _column(python_type: type, nullable: bool) -> dict[str, Any]:
    schema = dict(_TYPES.get(python_type, _TEXT))
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def category_schema(category: Category) -> dict[str, Any]:
    cols = category.columns()
    row = {
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, _ in cols],
        # An outer join (audit details) can make any joined column null.
        "properties": {
            name: _column(registry.value_type(col), bool(col.nullable) or col.table.name != category.table)
            for name, col in cols
        },
    }
    text = {"type": "string"}
    return {
        "type": "object",
        "title": category.title,
        "description": category.description,
        "additionalProperties": False,
        "required": ["title", "origin", "description", "purpose", "legal_basis", "retention", "count",
                     "csv", "rows"],
        "properties": {
            "title": text,
            "origin": {"const": category.origin},
            "description": text,
            "purpose": text,
            "legal_basis": text,
            "retention": text,
            "count": {"type": "integer", "minimum": 0},
            "csv": {"const": f"{category.origin}/{category.key}.csv"},
            "rows": {"type": "array", "items": row},
        },
    }


def json_schema() -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for origin, title in (("provided", "Data you provided"), ("observed", "Data observed about you")):
        members = [c for c in registry.ordered() if c.origin == origin]
        groups[origin] = {
            "type": "object",
            "title": title,
            "additionalProperties": False,
            "required": [c.key for c in members],
            "properties": {c.key: category_schema(c) for c in members},
        }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Privacy portal data export",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "generated_at", "subject", "provided", "observed"],
        "properties": {
            "format": {"const": FORMAT},
            "generated_at": {"type": "string", "format": "date-time"},
            "subject": {
                "type": "object",
                "required": ["id", "kind", "created_at"],
                "properties": {
                    "id": {"type": "integer"},
                    "kind": {"type": "string"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "provided": groups["provided"],
            "observed": groups["observed"],
        },
    }
