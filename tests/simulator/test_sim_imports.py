"""The simulator checks the gateway, so it must not share the gateway's code: a wrong constant
or a wrong decryption in ``providers/`` would otherwise be agreed to by both sides."""

from __future__ import annotations

import ast
from pathlib import Path

import pushgate.simulator

SIMULATOR = Path(pushgate.simulator.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names (relative imports resolved)."""
    package = "pushgate.simulator"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
    return found


def test_the_simulator_imports_only_itself_from_pushgate() -> None:
    files = sorted(SIMULATOR.rglob("*.py"))
    assert len(files) > 10  # the walk really sees the package
    offenders = {
        f"{path.relative_to(SIMULATOR)}: {module}"
        for path in files
        for module in _imported_modules(path)
        if module.split(".")[0] == "pushgate" and not module.startswith("pushgate.simulator")
    }
    assert not offenders, f"the simulator imports gateway code: {sorted(offenders)}"


def test_the_walk_finds_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from pushgate.providers.fcm import MAX_TTL\nimport pushgate.engine\nfrom . import x\n"
    )
    modules = _imported_modules(sample)
    assert {"pushgate.providers.fcm", "pushgate.engine", "pushgate.simulator"} <= modules
