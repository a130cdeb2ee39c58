"""Dependencies between the apps' modules run one way (ARCHITECTURE.md): no module imports one
that imports it back, directly or through others, whether at the top or lazily inside a
function. Read from the source with `ast`, so a lazy import counts as much as any other."""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_APPS = {"tests", "bench"}


def _modules() -> dict[str, Path]:
    modules = {}
    for init in sorted(ROOT.glob("*/__init__.py")):
        if init.parent.name in NOT_APPS:
            continue
        for path in init.parent.rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def imports_of(name: str) -> set[str]:
    """The app modules `name` imports, anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycle_through(start: str) -> list[str] | None:
    """The shortest import path from `start` back to itself, if there is one."""
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(GRAPH[current]):
            if target == start:
                path = [current]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in parents:
                parents[target] = current
                queue.append(target)
    return None


def test_the_apps_modules_are_read():
    assert {
        "config.api",
        "brands.models",
        "consent.services",
        "preferences.services",
        "preferences.views.one_click",
        "sync.outbox.events",
        "sync.delivery.fanout",
    } <= set(MODULES)
    assert "tests.conftest" not in MODULES


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("preferences.emails", "preferences.services"),  # the services send the emails
        ("preferences.one_click", "preferences.tasks"),  # the task applies what one_click accepted
    ],
)
def test_the_loops_broken_once_stay_broken(lower, higher):
    assert lower in imports_of(higher)
    assert higher not in imports_of(lower)


def test_no_module_imports_one_that_imports_it_back():
    cycles = {name: cycle_through(name) for name in MODULES}
    assert {name: " -> ".join(path) for name, path in cycles.items() if path} == {}


def test_the_check_finds_a_loop(monkeypatch):
    monkeypatch.setitem(GRAPH, "preferences.emails", {*GRAPH["preferences.emails"], "preferences.services"})
    assert cycle_through("preferences.emails") == [
        "preferences.emails",
        "preferences.services",
        "preferences.emails",
    ]


def reachable_from(start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    queue = deque([start])
    while queue:
        for target in GRAPH[queue.popleft()]:
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def test_the_outbox_never_reaches_delivery():
    """sync.delivery reads the outbox; the outbox reaches delivery only through the listeners
    that sync.apps registers (sync.outbox.listeners)."""
    outbox = [name for name in MODULES if name.startswith("sync.outbox")]
    assert "sync.outbox.events" in outbox
    assert {
        name: sorted(target for target in reachable_from(name) if target.startswith("sync.delivery"))
        for name in outbox
        if any(target.startswith("sync.delivery") for target in reachable_from(name))
    } == {}
    assert "sync.outbox.feed" in imports_of("sync.delivery.fanout")


# Interfaces: the only modules outside sync.delivery that may import it (ARCHITECTURE.md: the
# domain never calls delivery; the outbox reaches it through sync.outbox.listeners). Pages split
# into a `views` package (the console's, one module per area) are interfaces too, and so are
# management commands (rotate_connector_keys).
INTERFACES = {"urls", "api", "tasks", "admin", "apps"}


def _interface(name: str) -> bool:
    package, _, last = name.rpartition(".")
    return last in INTERFACES or package.endswith((".views", ".management.commands"))


def _delivery(name: str) -> bool:
    return name == "sync.delivery" or name.startswith("sync.delivery.")


def delivery_importers() -> dict[str, list[str]]:
    """Modules outside sync.delivery, other than interfaces, that import it."""
    return {
        name: sorted(target for target in GRAPH[name] if _delivery(target))
        for name in MODULES
        if not _delivery(name) and not _interface(name) and any(_delivery(target) for target in GRAPH[name])
    }


def test_only_interfaces_import_delivery():
    assert delivery_importers() == {}
    assert {"sync.tasks", "sync.apps", "config.urls"} <= {
        name for name in MODULES if any(_delivery(target) for target in GRAPH[name])
    }


def test_the_check_finds_domain_code_that_calls_delivery(monkeypatch):
    monkeypatch.setitem(GRAPH, "consent.erasure", {*GRAPH["consent.erasure"], "sync.delivery.erasure"})
    assert delivery_importers() == {"consent.erasure": ["sync.delivery.erasure"]}
