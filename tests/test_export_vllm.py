"""``mole export vllm``: the vLLM launch for a registry, and the adapters it refuses."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from mole_core.errors import AdapterError, MoleError
from mole_core.export import VLLM_LORA_RANKS, VLLM_MODULE, vllm_launch, vllm_rank


@pytest.fixture
def two_experts(registry, adapter_factory):  # noqa: ANN001, ANN201
    registry.add_expert("math", adapter_factory(rank=4, seed=1))
    registry.add_expert("code", adapter_factory(rank=12, seed=2))
    return registry


def _edit_config(registry, name: str, **changes) -> None:  # noqa: ANN001
    path = registry.expert_dir(name) / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_rank_rounds_up_to_an_allowed_value() -> None:
    assert [vllm_rank(r) for r in (1, 2, 8, 9, 64, 65, 300)] == [1, 8, 8, 16, 64, 128, 320]
    with pytest.raises(MoleError, match="above vLLM's largest"):
        vllm_rank(VLLM_LORA_RANKS[-1] + 1)


def test_launch_names_every_expert_with_absolute_paths(two_experts, tiny_base: Path) -> None:
    launch = vllm_launch(two_experts.root)
    assert launch.args[0] == str(tiny_base.resolve())
    assert launch.max_lora_rank == 16  # largest rank 12, rounded up
    modules = {m.name: Path(m.path) for m in launch.lora_modules}
    assert set(modules) == {"math", "code"}
    assert all(p.is_absolute() and (p / "adapter_model.safetensors").is_file() for p in modules.values())
    i = launch.args.index("--lora-modules")
    assert launch.args[i + 1 : i + 3] == [f"math={modules['math']}", f"code={modules['code']}"]
    for flag, value in (("--max-lora-rank", "16"), ("--max-loras", "2"), ("--dtype", "float32")):
        assert launch.args[launch.args.index(flag) + 1] == value
    assert "--enable-lora" in launch.args
    assert launch.served_model_name == launch.args[0]


def test_module_form_and_extra_args(two_experts) -> None:
    launch = vllm_launch(two_experts.root, extra_args=["--port", "8001"])
    assert launch.command()[:3] == ["vllm", "serve", launch.args[0]]
    module = launch.command("/opt/py/bin/python")
    assert module[:5] == ["/opt/py/bin/python", "-m", VLLM_MODULE, "--model", launch.args[0]]
    assert module[-2:] == ["--port", "8001"]
    assert shlex.split(launch.shell("/opt/py/bin/python")) == module


def test_rank_pattern_counts_towards_max_lora_rank(two_experts) -> None:
    _edit_config(two_experts, "math", rank_pattern={"q_proj": 40}, init_lora_weights="gaussian")
    launch = vllm_launch(two_experts.root)
    assert launch.max_lora_rank == 64 and launch.lora_modules[0].rank == 40


def test_max_loras_options(two_experts) -> None:
    launch = vllm_launch(two_experts.root, max_loras=1, max_cpu_loras=2)
    assert (launch.max_loras, launch.max_cpu_loras) == (1, 2)
    assert any("at most 1 of the 2" in n for n in launch.notes)
    with pytest.raises(MoleError, match="--max-cpu-loras"):
        vllm_launch(two_experts.root, max_loras=2, max_cpu_loras=1)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"modules_to_save": ["embed_tokens"]}, "whole modules"),
        ({"bias": "lora_only"}, "biases"),
        ({"lora_bias": True}, "biases"),
        ({"init_lora_weights": "pissa"}, "init_lora_weights='pissa'"),
        ({"rank_pattern": {"q_proj": 1024}}, "rank 1024"),
    ],
)
def test_refuses_what_vllm_cannot_serve(two_experts, changes: dict, why: str) -> None:
    _edit_config(two_experts, "code", **changes)
    with pytest.raises(AdapterError, match=why) as info:
        vllm_launch(two_experts.root)
    assert "code" in str(info.value) and "\n" not in str(info.value)  # names the expert (or its folder)


def test_refuses_empty_registry_and_tampered_adapter(two_experts) -> None:
    from mole_core import Registry

    empty = Registry.init(two_experts.root.parent / "empty", base=two_experts.load().base.id)
    with pytest.raises(MoleError, match="no experts"):
        vllm_launch(empty)
    weights = two_experts.expert_dir("math") / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(AdapterError, match="sha256"):
        vllm_launch(two_experts.root)


def test_cli_json_and_human_output(two_experts, cli) -> None:
    result = cli("export", "vllm", "--registry", str(two_experts.root), "--json", "--python", "py")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["args"][0] == data["model"] and data["command"][:4] == ["py", "-m", VLLM_MODULE, "--model"]
    assert [m["name"] for m in data["lora_modules"]] == ["math", "code"]
    human = cli("export", "vllm", "--registry", str(two_experts.root), "--", "--port", "9000")
    assert human.exit_code == 0
    line = human.stdout.strip().splitlines()[0]
    assert shlex.split(line)[:2] == ["vllm", "serve"] and shlex.split(line)[-2:] == ["--port", "9000"]


def test_cli_refusal_is_one_line(two_experts, mole) -> None:
    _edit_config(two_experts, "math", use_dora=True)
    result = mole("export", "vllm", "--registry", str(two_experts.root))
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().startswith("error: expert 'math'") and "Traceback" not in result.stderr
