"""The plugin system: built-ins, registering and removing plugins, faults pinned on their plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mole_core import ExpertSpec, LoraDefaults, Registry, hookimpl, plugins

ROOT = Path(__file__).resolve().parent.parent


def test_builtins_declare_the_paper_experts_datasets_and_router() -> None:
    cat = plugins.catalogue()
    ranks = {name: spec.lora.rank for name, spec in cat.experts.items()}
    assert ranks == {"reasoning": 64, "knowledge": 32, "qa": 16, "factoid": 8}
    for spec in cat.experts.values():
        assert spec.lora.alpha == spec.lora.rank and spec.lora.dropout == 0.1
        assert sorted(spec.lora.target_modules) == sorted(
            ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        )
    assert {"gsm8k", "wikitext-knowledge"} <= set(cat.datasets)
    assert {"bert-tiny", "minilm", "embedding"} <= set(cat.routers)
    assert len({spec.dataset for spec in cat.experts.values()}) == 4, "each paper expert has its own data"
    assert not cat.problems


class GoodPlugin:
    @hookimpl
    def register_experts(self, register):
        register(ExpertSpec(name="extra", task="An extra expert.", lora=LoraDefaults(rank=4)))


class RaisingPlugin:
    @hookimpl
    def register_experts(self, register):
        raise RuntimeError("boom")


class JunkPlugin:
    @hookimpl
    def register_experts(self, register):
        register({"name": "junk"})  # no task, no lora
        register(42)

    @hookimpl
    def register_routers(self, register):
        register("not a router")


def test_registered_plugin_is_listed_and_removed(register_plugin) -> None:
    register_plugin(GoodPlugin(), "good")
    cat = plugins.catalogue()
    assert cat.experts["extra"].plugin == "good"
    assert cat.provided["good"]["experts"] == ["extra"]


def test_plugin_fixture_cleans_up() -> None:
    assert "extra" not in plugins.catalogue().experts


def test_faulty_plugins_are_named_and_others_keep_working(register_plugin) -> None:
    register_plugin(RaisingPlugin(), "raiser")
    register_plugin(JunkPlugin(), "junky")
    register_plugin(GoodPlugin(), "good")
    cat = plugins.catalogue()
    assert "extra" in cat.experts and "reasoning" in cat.experts
    problems = [(p.plugin, p.hook) for p in cat.problems]
    assert ("raiser", "register_experts") in problems
    assert problems.count(("junky", "register_experts")) == 2
    assert ("junky", "register_routers") in problems
    assert any("boom" in p.message for p in cat.problems if p.plugin == "raiser")


def test_duplicate_expert_name_is_reported(register_plugin) -> None:
    class Dup:
        @hookimpl
        def register_experts(self, register):
            register(ExpertSpec(name="reasoning", task="Impostor.", lora=LoraDefaults(rank=2)))

    register_plugin(Dup(), "dup")
    cat = plugins.catalogue()
    assert cat.experts["reasoning"].plugin == "mole_plugins.experts"
    assert any(p.plugin == "dup" and "already registered" in p.message for p in cat.problems)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The third-party example plugin, pip-installed into its own target directory."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT / "examples" / "mole-expert-code"),
        ],
        check=True,
        capture_output=True,
    )
    return target


def _mole(*args: str, site: Path, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "mole_core", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site), **env},
    )


def test_third_party_plugin_is_listed_by_unchanged_core(installed_example: Path) -> None:
    proc = _mole("plugins", "--json", site=installed_example)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    code = next(p for p in data["plugins"] if p["name"] == "code")
    assert code["experts"] == ["code"] and code["datasets"] == ["code-snippets"]
    # MOLE_LOAD_PLUGINS restricts which third-party plugins load.
    only_none = json.loads(_mole("plugins", "--json", site=installed_example, MOLE_LOAD_PLUGINS="").stdout)
    assert "code" not in [p["name"] for p in only_none["plugins"]]


def test_third_party_expert_can_be_registered(
    installed_example: Path, registry: Registry, adapter_factory
) -> None:
    proc = _mole(
        "add-expert",
        "code",
        "--adapter",
        str(adapter_factory(rank=16)),
        "--registry",
        str(registry.root),
        site=installed_example,
    )
    assert proc.returncode == 0, proc.stderr
    entry = registry.get_expert("code")
    assert entry.plugin == "code" and entry.rank == 16 and "Python" in entry.task
    assert any("Python" in e for e in entry.examples)
    assert "why does my python loop print the last item twice" in entry.examples  # read from routing.toml


def test_broken_entry_point_is_reported_by_name(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mole]\nbroken = broken_plugin_module_that_does_not_exist\n")
    proc = _mole("plugins", "--json", site=tmp_path)
    assert proc.returncode == 0
    problems = json.loads(proc.stdout)["problems"]
    assert any(p["plugin"] == "broken" and "import failed" in p["message"] for p in problems)
    assert "reasoning" in proc.stdout


def test_dataset_plugin_faults_are_named(register_plugin) -> None:
    from mole_core import DatasetSpec, MoleError

    def junk(split, limit, offline):
        yield {"prompt": "fine", "completion": "fine"}
        yield {"nonsense": 1}

    def crash(split, limit, offline):
        raise OSError("disk on fire")
        yield  # pragma: no cover

    class Data:
        @hookimpl
        def register_datasets(self, register):
            register(DatasetSpec(name="junky", loader=junk))
            register(DatasetSpec(name="crashy", loader=crash))

    class Raises:
        @hookimpl
        def register_datasets(self, register):
            raise ValueError("no datasets today")

    register_plugin(Data(), "data-plugin")
    register_plugin(Raises(), "raises")
    cat = plugins.catalogue()
    assert any(p.plugin == "raises" and p.hook == "register_datasets" for p in cat.problems)
    assert "gsm8k" in cat.datasets  # the built-ins still work
    with pytest.raises(MoleError, match=r"dataset 'junky' \(plugin data-plugin\) failed on example 2"):
        cat.datasets["junky"].load("train")
    with pytest.raises(MoleError, match="disk on fire"):
        cat.datasets["crashy"].load("train")


# -- what plugins declare, as `mole plugins --json` shows it -----------------------------------------------
def test_plugins_json_shows_each_spec(cli) -> None:  # noqa: ANN001
    data = json.loads(cli("plugins", "--json").stdout)
    experts = {e["name"]: e for e in data["experts"]}
    assert (
        experts["qa"]["rank"] == 16
        and experts["qa"]["alpha"] == 16
        and experts["qa"]["dataset"] == "wikitext-qa"
    )
    assert experts["qa"]["task"] and "down_proj" in experts["qa"]["target_modules"]
    assert experts["qa"]["plugin"] == "mole_plugins.experts" and experts["qa"]["routing"]["templates"] > 0
    routers = {r["name"]: r for r in data["routers"]}
    assert routers["embedding"]["description"] and routers["embedding"]["needs_training"] is False
    datasets = {d["name"]: d for d in data["datasets"]}
    assert datasets["gsm8k"]["description"] and datasets["gsm8k"]["license"]
    paper = next(p for p in data["plugins"] if p["name"] == "mole_plugins.paper")
    assert paper["commands"] == ["quickstart"] and paper["claims"] == ["paper-memory"]
    text = cli("plugins").stdout
    assert "expert  qa: " in text and "r=16" in text and "command mole quickstart" in text


# -- register_commands and register_claims --------------------------------------------------------------
def _group_with_list():  # noqa: ANN202
    import click

    group = click.Group()

    @group.command("list")
    def list_() -> None:
        click.echo("core list")

    return group


def test_a_plugin_adds_a_command_and_a_broken_or_greedy_one_adds_nothing(register_plugin) -> None:  # noqa: ANN001
    import click
    from click.testing import CliRunner

    class Adds:
        @hookimpl
        def register_commands(self, cli) -> None:  # noqa: ANN001
            @cli.command()
            @click.argument("who")
            def hello(who: str) -> None:
                click.echo(f"hello {who}")

    class Raises:
        @hookimpl
        def register_commands(self, cli) -> None:  # noqa: ANN001
            cli.add_command(click.Command("half-added", callback=lambda: None))
            raise RuntimeError("boom")

    class Replaces:
        @hookimpl
        def register_commands(self, cli) -> None:  # noqa: ANN001
            cli.add_command(click.Command("list", callback=lambda: click.echo("hijacked")))

    register_plugin(Adds(), "adds")
    register_plugin(Raises(), "raises")
    register_plugin(Replaces(), "replaces")
    group = _group_with_list()
    plugins.load_commands(group)
    assert "hello" in group.commands and "quickstart" in group.commands  # the paper plugin's, too
    assert "half-added" not in group.commands
    runner = CliRunner()
    assert runner.invoke(group, ["hello", "you"]).output == "hello you\n"
    assert runner.invoke(group, ["list"]).output == "core list\n"
    assert plugins.commands_by_plugin()["adds"] == ["hello"]
    problems = {(p.plugin, p.hook): p.message for p in plugins.catalogue().problems}
    assert "boom" in problems[("raises", "register_commands")]
    assert "'list'" in problems[("replaces", "register_commands")]


def test_claims_are_printed_beside_the_measurement(register_plugin) -> None:  # noqa: ANN001
    from mole_core import ClaimSpec
    from mole_core.commands.runtime import format_memory
    from mole_core.memory import MemoryReport

    class Cites:
        @hookimpl
        def register_claims(self, register) -> None:  # noqa: ANN001
            register(ClaimSpec(name="mine", topic="memory", text="a vendor says 1 GB"))
            register({"name": "elsewhere", "topic": "route", "text": "not about memory"})

    register_plugin(Cites(), "cites")
    cat = plugins.catalogue()
    about = {c.name: c.plugin for c in cat.claims_about("memory")}
    assert about == {"paper-memory": "mole_plugins.paper", "mine": "cites"}
    report = MemoryReport(
        base_id="b", dtype="float32", base_tensor_bytes=1, experts=[], router_tensor_bytes=0, mole_tensor_bytes=1,
        rss_bytes=1, full_models=[], full_models_measured=0, full_total_extrapolated=False, n_experts=0,
        full_total_bytes=1, savings_fraction=0.0, per_expert_bytes=0,
    )  # fmt: skip
    text = format_memory(report)
    assert "(a vendor says 1 GB)" in text and "12.74 GB" in text and "not about memory" not in text


# -- docs/plugins.md is enough to build and test a plugin ------------------------------------------------
EXAMPLE = ROOT / "examples" / "mole-expert-code"


def _python_blocks(markdown: str) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_docs_snippets_are_python_and_the_testing_one_is_the_example_plugins_tests() -> None:
    import ast

    blocks = _python_blocks((ROOT / "docs" / "plugins.md").read_text(encoding="utf-8"))
    for block in blocks:
        ast.parse(block)
    assert (EXAMPLE / "tests" / "test_plugin.py").read_text(encoding="utf-8") in blocks


def test_the_example_plugins_own_tests_pass_on_mole_core_testing() -> None:
    import os

    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 passed" in proc.stdout
