"""Property-based fuzzing: malformed manifests, adapter configs and CLI arguments are refused with a
clear one-line error, never a traceback."""

from __future__ import annotations

import json
import string
from pathlib import Path

import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mole_core import Manifest, ManifestError, MoleError
from mole_core.adapters import read_adapter
from mole_core.cli import cli

FIELDS = [
    "schema_version",
    "base",
    "router",
    "experts",
    "id",
    "revision",
    "dtype",
    "name",
    "task",
    "rank",
    "alpha",
    "target_modules",
    "base_model",
    "plugin",
    "path",
    "hub",
    "sha256",
    "examples",
    "training",
    "labels",
    "repo_id",
    "commit",
    "created_at",
    "unknown",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["x", "org/model", "float32", "qa", "q_proj", "a" * 64, "0" * 64]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6)
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)


def _drop_none(value):  # TOML has no null
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def _assert_one_line(exc: Exception) -> None:
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message


@settings(max_examples=1500, deadline=None)
@given(documents)
def test_structured_manifests_are_valid_or_refused_in_one_line(doc: dict) -> None:
    try:
        text = tomli_w.dumps(_drop_none(doc))
    except (TypeError, ValueError):
        return  # not representable in TOML (e.g. mixed-type arrays in older writers)
    try:
        manifest = Manifest.from_toml(text, "fuzz/mole.toml")
    except ManifestError as exc:
        _assert_one_line(exc)
        assert str(exc).startswith("fuzz/mole.toml: ")
    else:
        assert Manifest.from_toml(manifest.to_toml()) == manifest


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=string.printable + "ü✓\x00", max_size=200))
def test_arbitrary_text_manifests_never_crash(text: str) -> None:
    try:
        Manifest.from_toml(text, "fuzz/mole.toml")
    except ManifestError as exc:
        _assert_one_line(exc)


adapter_configs = st.dictionaries(
    st.sampled_from(["r", "lora_alpha", "target_modules", "peft_type", "base_model_name_or_path", "x"]),
    values,
    max_size=6,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(adapter_configs, values))
def test_adapter_configs_are_valid_or_refused_in_one_line(tmp_path: Path, config) -> None:
    directory = tmp_path / "adapter"
    directory.mkdir(exist_ok=True)
    (directory / "adapter_config.json").write_text(json.dumps(config))
    (directory / "adapter_model.safetensors").write_bytes(b"")
    try:
        info = read_adapter(directory)
    except MoleError as exc:
        _assert_one_line(exc)
    else:
        assert info.rank > 0 and info.alpha > 0 and info.target_modules


COMMANDS = ["init", "add-expert", "remove-expert", "list", "show", "validate", "plugins", "schema"]
OPTIONS = [
    "--registry",
    "--base",
    "--adapter",
    "--rank",
    "--alpha",
    "--json",
    "--task",
    "--example",
    "--hub",
    "--replace",
    "--dtype",
    "-v",
    "--allow-pickle",
]
arguments = st.lists(
    st.one_of(
        st.sampled_from(OPTIONS), st.text(max_size=12), st.sampled_from(["-1", "0", "1e9", "nan", "", " "])
    ),
    max_size=6,
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(COMMANDS), arguments)
def test_cli_arguments_never_traceback(tmp_path: Path, monkeypatch, command: str, args: list[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a fuzzed DIRECTORY argument must land in the sandbox, not the repo
    registry = tmp_path / "reg"
    registry.mkdir(exist_ok=True)
    if not (registry / "mole.toml").exists():
        (registry / "mole.toml").write_text('[base]\nid = "org/model"\n')
    before = (registry / "mole.toml").read_bytes()
    result = CliRunner().invoke(cli, [command, *args, "--registry", str(registry)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    if result.exit_code != 0:
        errors = [line for line in result.output.splitlines() if line.startswith(("error:", "Error:"))]
        assert len(errors) == 1, result.output
    assert (registry / "mole.toml").read_bytes() == before or command in ("add-expert", "remove-expert")
    Manifest.read(registry / "mole.toml")  # the registry is never corrupted


# -- hostile files and paths: one line naming the problem, never a traceback ----------------------------
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"


def _one_error_line(result) -> str:  # noqa: ANN001
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_deeply_nested_user_files_are_one_line(tmp_path: Path, tiny_base: Path, adapter_factory) -> None:
    registry = tmp_path / "reg"
    assert CliRunner().invoke(cli, ["init", str(registry), "--base", str(tiny_base)]).exit_code == 0
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(
        (adapter_factory(rank=4) / "adapter_model.safetensors").read_bytes()
    )
    (adapter / "adapter_config.json").write_text(DEEP_JSON)
    line = _one_error_line(
        CliRunner().invoke(cli, ["add-expert", "a", "--adapter", str(adapter), "--registry", str(registry)])
    )
    assert "adapter_config.json: invalid JSON: nested too deeply" in line
    args = ["add-expert", "good", "--adapter", str(adapter_factory(rank=4)), "--registry", str(registry)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"query": ' + DEEP_JSON + "}\n")
    line = _one_error_line(
        CliRunner().invoke(cli, ["route", "--file", str(queries), "--registry", str(registry)])
    )
    assert "queries.jsonl:1: invalid JSON (nested too deeply)" in line
    (registry / "mole.toml").write_text(DEEP_TOML)
    line = _one_error_line(CliRunner().invoke(cli, ["list", "--registry", str(registry)]))
    assert "mole.toml: invalid TOML: nested too deeply" in line


def test_nul_byte_in_a_manifest_path_is_one_line(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "mole.toml").write_text(
        '[base]\nid = "org/model"\n[[experts]]\nname = "a"\nrank = 4\nalpha = 4.0\ntarget_modules = ["q"]\n'
        'base_model = "org/model"\npath = "experts/a\\u0000"\n'
    )
    for command in (["list"], ["validate"], ["remove-expert", "a", "--yes"], ["generate", "hi"]):
        line = _one_error_line(CliRunner().invoke(cli, [*command, "--registry", str(registry)]))
        assert "experts[0] (a).path" in line


def test_unusable_paths_as_registry_or_target_are_one_line(tmp_path: Path) -> None:
    long_name = str(tmp_path / ("x" * 256))
    cases = [
        ["init", "/dev/null", "--base", "org/model"],
        ["init", long_name, "--base", "org/model"],
        ["list", "--registry", long_name],
        ["validate", "--registry", "/dev/null"],
        ["list", "--registry", "/dev/null"],
    ]
    for args in cases:
        _one_error_line(CliRunner().invoke(cli, args))


def test_hostile_training_settings_are_one_line(tmp_path: Path, tiny_base: Path) -> None:
    """Refused while building the settings: nothing is trained, nothing in the registry touched."""
    registry = tmp_path / "reg"
    assert CliRunner().invoke(cli, ["init", str(registry), "--base", str(tiny_base)]).exit_code == 0
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"prompt": "1+1=", "completion": "2"}) + "\n")
    before = (registry / "mole.toml").read_bytes()
    for flag, value, word in [
        ("--batch-size", "100000000000000000000", "batch_size"),
        ("--warmup", "inf", "warmup"),
        ("--epochs", "inf", "epochs"),
        ("--epochs", "nan", "epochs"),
        ("--seed", "-1", "seed"),
        ("--max-steps", str(10**12), "max_steps"),
    ]:
        args = ["train-expert", "t", "--data", str(data), flag, value, "--registry", str(registry)]
        line = _one_error_line(CliRunner().invoke(cli, args))
        assert word in line, (flag, line)
    args = ["train-expert", "t", "--data", str(data), "--max-steps", "1", "--output", "/dev/null"]
    result = CliRunner().invoke(cli, [*args, "--registry", str(registry)])  # the plan is shown first
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        "error: /dev/null: File exists"
    ]
    assert (registry / "mole.toml").read_bytes() == before
