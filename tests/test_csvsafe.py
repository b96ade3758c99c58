"""CSV formula injection: one shared function neutralises every formula-looking cell, and every CSV
writer in the portal goes through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from portal.core.csvsafe import neutralise, neutralise_column

PORTAL = Path(__file__).resolve().parent.parent / "portal"

FORMULAS = [
    "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "\nx", "\0x",
    # Spreadsheets skip blanks before the sign …
    " =1+1", "  +1", "\u00a0=1+1", "\n=1+1", "\r\n@x", "\u3000=1", "\u2003-1", "\u200b=1", "\ufeff=1",
    # … and read full-width and small-form signs as the ASCII ones.
    "\uff1d1+1", "\uff0b1", "\uff0d1", "\uff20x", "\ufe661+1", "\ufe621", "\ufe631", "\ufe6bx", " \uff1d1",
]
TEXT = ["", "plain", "a=b", "1-2", "x@example.com", " spaced", "\u00a0nbsp", "'=already quoted", "É=", "\u3000"]


@pytest.mark.parametrize("value", FORMULAS, ids=[repr(v) for v in FORMULAS])
def test_formula_looking_cells_get_an_apostrophe(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", TEXT, ids=[repr(v) for v in TEXT])
def test_text_cells_stay_as_they_are(value: str) -> None:
    assert neutralise(value) == value


def test_a_column_is_neutralised_cell_by_cell_and_left_alone_when_clean() -> None:
    clean = ("a", None, "b", "")
    assert neutralise_column(clean) is clean
    assert list(neutralise_column((" =x", None, 5, "y", "\uff20z"))) == ["' =x", None, 5, "y", "'\uff20z"]


def test_every_csv_writer_in_the_portal_uses_the_shared_function() -> None:
    """A new CSV (a staff report, say) cannot forget the escaping: its module must import it."""
    writers = []
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        uses_csv = any(
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "csv"
            and node.attr in ("writer", "DictWriter")
            for node in ast.walk(tree)
        )
        if not uses_csv:
            continue
        writers.append(path.name)
        imports = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "portal.core.csvsafe" in imports, f"{path} writes CSV without portal.core.csvsafe"
    assert {"archive.py", "quarantine.py"} <= set(writers)
