"""The registry commands as a user types them: output, --json, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import run_mole

from mole_core import Registry


def test_init_add_list_show_remove(cli, tmp_path: Path, tiny_base: Path, adapter_factory) -> None:
    reg = tmp_path / "reg"
    result = cli("init", str(reg), "--base", str(tiny_base))
    assert result.exit_code == 0, result.output
    result = cli(
        "add-expert",
        "alpha",
        "--adapter",
        str(adapter_factory(rank=8)),
        "--task",
        "first",
        "--registry",
        str(reg),
    )
    assert result.exit_code == 0 and "registered alpha (r=8" in result.output
    listed = json.loads(cli("list", "--json", "--registry", str(reg)).output)
    assert [e["name"] for e in listed["experts"]] == ["alpha"]
    assert listed["base"]["id"] == str(tiny_base)
    shown = json.loads(cli("show", "alpha", "--json", "--registry", str(reg)).output)
    assert shown["rank"] == 8 and shown["task"] == "first" and len(shown["sha256"]) == 64
    assert "alpha" in cli("list", "--registry", str(reg)).output
    assert cli("validate", "--registry", str(reg)).exit_code == 0
    assert cli("remove-expert", "alpha", "--yes", "--registry", str(reg)).exit_code == 0
    assert json.loads(cli("list", "--json", "--registry", str(reg)).output)["experts"] == []


def test_plugin_expert_name_fills_task_and_plugin(cli, registry: Registry, adapter_factory) -> None:
    result = cli(
        "add-expert", "reasoning", "--adapter", str(adapter_factory(rank=4)), "--registry", str(registry.root)
    )
    assert result.exit_code == 0, result.output
    entry = registry.get_expert("reasoning")
    assert entry.plugin == "mole_plugins.experts" and "reasoning" in entry.task.lower()


def test_user_errors_are_one_line_without_traceback(tmp_path: Path, tiny_base: Path, adapter_factory) -> None:
    reg = tmp_path / "reg"
    assert run_mole("init", str(reg), "--base", str(tiny_base)).returncode == 0
    cases = [
        (["add-expert", "alpha", "--adapter", str(tmp_path / "missing")], "does not exist"),
        (["add-expert", "alpha", "--adapter", str(adapter_factory(rank=8)), "--rank", "4"], "contradicts"),
        (["show", "nobody"], "no expert 'nobody'"),
        (["remove-expert", "nobody"], "no expert 'nobody'"),
        (["add-expert", "Bad Name", "--adapter", str(adapter_factory(rank=8))], "must be 1-64 characters"),
    ]
    for args, words in cases:
        proc = run_mole(*args, "--registry", str(reg))
        assert proc.returncode != 0, args
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0], (args, proc.stderr)
    assert json.loads(run_mole("list", "--json", "--registry", str(reg)).stdout)["experts"] == []


def test_malformed_manifest_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "mole.toml").write_text('[base]\nid = "x"\ncolour = "red"\n')
    proc = run_mole("list", "--registry", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'mole.toml'}: base.colour: unknown field"


def test_validate_exits_1_on_problems(cli, registry: Registry, adapter_factory) -> None:
    registry.add_expert("alpha", adapter_factory(rank=4))
    (registry.root / "experts" / "alpha" / "adapter_model.safetensors").write_bytes(b"junk")
    result = cli("validate", "--json", "--registry", str(registry.root))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and "checksum mismatch" in report["problems"][0]["message"]


def test_eight_concurrent_add_expert_processes_lose_no_entry(registry: Registry, adapter_factory) -> None:
    adapters = [adapter_factory(rank=4, seed=s) for s in range(8)]

    def add(i: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mole_core",
                "add-expert",
                f"e{i}",
                "--adapter",
                str(adapters[i]),
                "--registry",
                str(registry.root),
            ],
            capture_output=True,
            text=True,
        )

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(8)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    assert sorted(registry.load().names()) == [f"e{i}" for i in range(8)]
    assert registry.validate() == []


def test_control_characters_in_registry_values_never_reach_the_terminal(
    cli, registry: Registry, adapter_factory
) -> None:
    """A pulled manifest's task could carry escape sequences (retitle the window, clear the screen)."""
    hostile = "fine\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eevil\rtask\x00"
    registry.add_expert("alpha", adapter_factory(rank=4), task=hostile, examples=["q\x1b[1A"])
    root = str(registry.root)
    outputs = [
        cli("list", "--registry", root).output,
        cli("show", "alpha", "--registry", root).output,
        cli("show", "nobody\x1b[2J", "--registry", root).output,
    ]
    for output in outputs:
        assert not any(c in output for c in "\x1b\x07\x9b\u202e\r\x00"), repr(output)
    assert "fine]0;pwned[2J31mevil" in outputs[0]
    shown = json.loads(cli("show", "alpha", "--json", "--registry", root).output)
    assert shown["task"] == hostile  # --json keeps the data exactly (the encoder escapes it)
