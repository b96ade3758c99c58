"""The layout's rules, read from the imports: areas never reach up into the web or CLI layer,
models import no service, packages form no cycle, and mailed links match the route table."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from portal.core.links import MAILED
from portal.web.routes import router

PORTAL = Path(__file__).resolve().parent.parent / "portal"
# The layers above the areas: they may import any area, no area may import them.
TOP = ("portal.web", "portal.cli", "portal.housekeeping", "portal.__main__")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every portal module and the portal modules it imports, late (in-function) imports included."""
    found: dict[str, set[str]] = {}
    for path in PORTAL.rglob("*.py"):
        name = _module_name(path)
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("portal"):
                targets.add(node.module)
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("portal"))
        found[name] = targets
    return found


def _package(module: str) -> str:
    """`portal.subjects.identity` → `portal.subjects`."""
    return ".".join(module.split(".")[:2])


def test_areas_never_import_the_web_or_cli_layer() -> None:
    offenders = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        if not module.startswith(TOP)
        for target in targets
        if target.startswith(TOP)
    ]
    assert not offenders, offenders


def test_models_import_no_service() -> None:
    offenders = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        if module.startswith("portal.models")
        for target in targets
        if not target.startswith("portal.models")
    ]
    assert not offenders, offenders


def test_core_depends_on_nothing_but_itself_and_the_models() -> None:
    offenders = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        if module.startswith("portal.core")
        for target in targets
        if not target.startswith(("portal.core", "portal.models")) and target != "portal"
    ]
    assert not offenders, offenders


def test_packages_import_each_other_without_cycles() -> None:
    modules = _imports()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in modules.items():
        for target in targets:
            if target not in modules:
                continue  # a name imported from a module, not a module
            a, b = _package(module), _package(target)
            if a != b and b != "portal":
                graph[a].add(b)
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif len(path) < len(graph) + 1:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, f"package import cycles: {sorted({' → '.join(c) for c in cycles})}"


def test_self_service_and_back_office_pages_stay_apart() -> None:
    offenders = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for mine, theirs in (("portal.web.my", "portal.web.staff"), ("portal.web.staff", "portal.web.my"))
        if module.startswith(mine)
        for target in targets
        if target.startswith(theirs)
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("name", sorted(MAILED))
def test_mailed_links_are_the_route_tables_paths(name: str) -> None:
    params = {p: "tok" for p in re.findall(r"{(\w+)}", MAILED[name])}
    assert router.url_path_for(name, **params) == MAILED[name].format(**params)
