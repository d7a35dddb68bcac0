"""`mole install` / `mole uninstall`: pip run by MoLE's own Python, the way `llm install` does it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mole-expert-code"


class PipCalls(list):
    """The commands mole would have run; pip "exits" with ``status``."""

    status = 0

    def run(self, command: list[str], check: bool = False) -> Any:
        self.append(command)
        return subprocess.CompletedProcess(command, self.status)


@pytest.fixture
def pip_calls(monkeypatch: pytest.MonkeyPatch) -> PipCalls:
    from mole_core import install

    calls = PipCalls()
    monkeypatch.setattr(install.subprocess, "run", calls.run)
    return calls


def test_install_and_uninstall_run_this_pythons_pip(cli, pip_calls: PipCalls) -> None:  # noqa: ANN001
    result = cli("install", "-U", "--pre", str(EXAMPLE), "mole-expert-other")
    assert result.exit_code == 0, result.output
    assert pip_calls[-1] == [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--upgrade",
        "--pre",
        str(EXAMPLE),
        "mole-expert-other",
    ]
    assert cli("install", "-e", str(EXAMPLE)).exit_code == 0
    assert pip_calls[-1][3:] == ["install", "--editable", str(EXAMPLE)]
    assert cli("uninstall", "mole-expert-code", "-y").exit_code == 0
    assert pip_calls[-1] == [sys.executable, "-m", "pip", "uninstall", "--yes", "mole-expert-code"]


def test_bad_requests_and_pip_failures_are_one_line_errors(cli, pip_calls: PipCalls) -> None:  # noqa: ANN001
    result = cli("install")
    assert result.exit_code == 1 and "name at least one package" in result.output and pip_calls == []
    result = cli("uninstall", "Mole_Lora", "-y")
    assert result.exit_code == 1 and "MoLE itself" in result.output and pip_calls == []
    pip_calls.status = 1
    result = cli("install", "no-such-plugin-anywhere")
    assert result.exit_code == 1 and "pip install failed (exit 1)" in result.output
    assert "Traceback" not in result.output


def test_install_puts_the_example_plugin_where_mole_finds_it(tmp_path: Path) -> None:
    """A real pip run, into a temporary target (PIP_TARGET) so the shared environment stays untouched."""
    site = tmp_path / "site"
    env = {
        **os.environ,
        "PIP_TARGET": str(site),
        "PIP_NO_DEPS": "1",
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # build with this environment's setuptools: no network
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mole_core", "install", str(EXAMPLE)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert (site / "mole_expert_code" / "__init__.py").is_file()
    listed = subprocess.run(
        [sys.executable, "-m", "mole_core", "plugins", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    experts = {e["name"]: e for e in json.loads(listed.stdout)["experts"]}
    assert experts["code"]["plugin"] == "code" and experts["code"]["dataset"] == "code-snippets"
