"""Enumerate the route table so security tests cover every route, including future ones."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.routing import Mount, Route

from portal.web.routes import routes

PARAM_VALUES = {"token": "x" * 43, "seq": "1", "id": "1", "path": "portal.css"}


def _fill(path: str) -> str:
    for name, value in PARAM_VALUES.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":int}", value).replace(
            "{" + name + ":path}", value
        )
    assert "{" not in path, f"add a sample value for {path} in tests/routes_util.py"
    return path


def each_route(methods: set[str]) -> Iterator[tuple[str, str, str]]:
    """(name, method, concrete path) for every route answering one of `methods`."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) & methods):
                yield route.name, method, _fill(route.path)


def static_sample() -> str:
    mount = next(r for r in routes if isinstance(r, Mount) and r.name == "static")
    return mount.path + "/portal.css"
