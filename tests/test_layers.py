"""The layering docs/architecture.md states: the library imports neither the built-in plugins nor the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "mole_core"
CLI_LAYER = {"cli.py", "clihelp.py", "__main__.py", "testing.py"}  # testing drives the CLI for plugin tests


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at the top or inside functions, relative imports made absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


def _library_files() -> list[Path]:
    return [
        p
        for p in CORE.rglob("*.py")
        if p.name not in CLI_LAYER and "commands" not in p.relative_to(CORE).parts
    ]


def test_the_core_never_imports_the_builtin_plugins() -> None:
    offenders = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in CORE.rglob("*.py")
        for name in _imports(p)
        if name == "mole_plugins" or name.startswith("mole_plugins.")
    ]
    assert offenders == []


def test_the_library_never_imports_click_or_the_cli() -> None:
    assert len(_library_files()) > 30
    offenders = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in _library_files()
        for name in _imports(p)
        if name.split(".")[0] == "click" or name.startswith(("mole_core.cli", "mole_core.commands"))
    ]
    assert offenders == []
