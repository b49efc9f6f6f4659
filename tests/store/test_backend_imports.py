"""Only ``store/`` and ``queue/`` know the backends: everything else sees the protocols."""

from __future__ import annotations

import ast
from pathlib import Path

import pushgate

BACKEND_MODULES = {
    "pushgate.store.sqlite",
    "pushgate.store.postgresql",
    "pushgate.store.chat_sqlite",
    "pushgate.store.copy",
    "pushgate.queue.sqlite",
    "pushgate.queue.postgresql",
}
ALLOWED = {"store", "queue"}
"""Packages that may name a backend module (``store.backends`` picks one from settings)."""
COMMANDS = {"pushgate.cli.store"}
"""The command that moves a store between backends is about backends."""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_outside_store_and_queue_imports_a_backend() -> None:
    root = Path(pushgate.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        module = ".".join(("pushgate", *relative.with_suffix("").parts))
        if relative.parts[0] in ALLOWED or module in COMMANDS:
            continue
        if _imports(path) & BACKEND_MODULES:
            offenders.append(module)
    assert offenders == []


def test_the_check_sees_a_backend_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from pushgate.store.sqlite import SqliteStore\n")
    assert _imports(sample) & BACKEND_MODULES
