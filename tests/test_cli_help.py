"""The command line's help: an example under every command, every option explained, -v/-q anywhere,
--json on init and remove-expert, remove-expert confirming before it deletes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
import pytest

from mole_core import Registry
from mole_core.cli import cli as mole_cli


def all_commands() -> dict[str, click.Command]:
    ctx = click.Context(mole_cli)
    return {name: mole_cli.get_command(ctx, name) for name in mole_cli.list_commands(ctx)}


def test_every_command_has_an_example_using_it(cli) -> None:  # noqa: ANN001
    commands = all_commands()
    assert {"init", "add-expert", "generate", "quickstart", "remove-expert"} <= set(commands)
    for name in commands:
        text = cli(name, "--help").output
        assert "Examples:" in text and f"mole {name}" in text.split("Examples:", 1)[1], name


def test_every_example_uses_only_options_its_command_has(cli) -> None:  # noqa: ANN001
    """Examples are typed by users as they are: an option the command lacks would fail for them."""
    import shlex

    for name, command in all_commands().items():
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        text = cli(name, "--help").output.split("Examples:", 1)[1]
        for line in text.splitlines():
            if f"mole {name}" not in line:
                continue
            words = shlex.split(line.split(f"mole {name}", 1)[1].split("|")[0].split(">")[0])
            unknown = [w.split("=")[0] for w in words if w.startswith("-") and w != "-"]
            unknown = [w for w in unknown if w not in known]
            assert not unknown, f"`mole {name}` example uses {unknown}"


def test_every_option_of_every_command_has_help() -> None:
    for name, command in all_commands().items():
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"mole {name} {param.opts[0]} has no help"


def test_generate_help_documents_stdin_and_env(cli) -> None:  # noqa: ANN001
    text = " ".join(cli("generate", "--help").output.split())
    assert "'-' reads standard input" in text
    assert "MOLE_FAST_LORA" in text and "MOLE_REGISTRY" in text


def test_verbose_and_quiet_after_the_subcommand(cli, registry: Registry) -> None:  # noqa: ANN001
    root = logging.getLogger()
    try:
        assert cli("list", "--registry", str(registry.root), "-vv").exit_code == 0
        assert root.level == logging.DEBUG
        assert cli("-v", "list", "--registry", str(registry.root)).exit_code == 0
        assert root.level == logging.INFO
        assert cli("list", "-q", "--registry", str(registry.root)).exit_code == 0
        assert root.level == logging.ERROR
    finally:
        root.setLevel(logging.WARNING)


def test_init_and_remove_expert_have_json(cli, tmp_path: Path, tiny_base: Path, adapter_factory) -> None:  # noqa: ANN001
    reg = tmp_path / "reg"
    made = json.loads(cli("init", str(reg), "--base", str(tiny_base), "--json").output)
    assert made["manifest"] == str(reg / "mole.toml") and made["base"]["id"] == str(tiny_base)
    Registry(reg).add_expert("alpha", adapter_factory(rank=2))
    gone = json.loads(cli("remove-expert", "alpha", "--yes", "--json", "--registry", str(reg)).output)
    assert gone == {"removed": "alpha", "path": "experts/alpha"}
    assert Registry(reg).experts() == []


def test_remove_expert_confirms_on_a_terminal_and_refuses_without_one(
    mole, cli, registry: Registry, adapter_factory, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    registry.add_expert("alpha", adapter_factory(rank=2))
    args = ("remove-expert", "alpha", "--registry", str(registry.root))
    refused = mole(*args)  # no terminal: stdin is a pipe
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "--yes" in refused.stderr
    assert registry.expert_dir("alpha").is_dir() and registry.load().names() == ["alpha"]
    monkeypatch.setattr("mole_core.clihelp.on_terminal", lambda: True)
    declined = cli(*args, input="n\n")
    assert declined.exit_code == 1 and "Remove expert 'alpha'" in declined.output
    assert registry.load().names() == ["alpha"]
    accepted = cli(*args, input="y\n")
    assert accepted.exit_code == 0 and registry.load().names() == []


def test_quickstart_takes_n_texts_and_the_old_eval_texts() -> None:
    quickstart = all_commands()["quickstart"]
    new = quickstart.make_context("quickstart", ["--n-texts", "3"])
    old = quickstart.make_context("quickstart", ["--eval-texts", "5"])
    assert new.params["eval_texts"] == 3 and old.params["eval_texts_alias"] == 5
    assert "--eval-texts" not in quickstart.get_help(new)


@pytest.mark.parametrize("args", [["init", "\x00", "--base", "x"], ["list", "--registry", "a\x00b"]])
def test_a_nul_byte_in_an_argument_is_one_line(cli, args: list[str]) -> None:  # noqa: ANN001
    result = cli(*args)
    assert result.exit_code == 2 and result.output.strip() == "error: an argument contains a NUL byte"
