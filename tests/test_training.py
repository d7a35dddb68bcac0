"""Training on the tiny Llama: register with sha256 and record, divergence, resume, locks, settings."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from mole_core import MoleError, Registry
from mole_core.adapters import sha256_file
from mole_core.errors import RegistryBusyError
from mole_core.training import (
    ConfigError,
    DivergenceGuard,
    TrainingDivergedError,
    build_settings,
    checkpoints,
    expert_lock,
    lock_path,
    train_expert,
    work_dir,
)

FAST = {"lr": 1e-3, "batch_size": 2, "grad_accum": 1, "warmup": 0, "max_length": 64}


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "adder.jsonl"
    rows = [
        {"prompt": f"What is {i} plus {i}?", "completion": f"{i} plus {i} is {2 * i}."} for i in range(12)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def settings(data: Path, **kw: Any):  # noqa: ANN201
    return build_settings(overrides={**FAST, "data": data, **kw})


class Recorder(TrainerCallback):
    """Records the steps and logs the Trainer reports."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.logs: list[dict[str, Any]] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.steps.append(state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs:
            self.logs.append({"step": state.global_step, **logs})


class Poison(TrainerCallback):
    """Makes the loss logged at ``step`` NaN, as a diverging run would."""

    def __init__(self, step: int, value: float = float("nan")) -> None:
        self.step, self.value = step, value

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if logs and "loss" in logs and state.global_step == self.step:
            logs["loss"] = self.value


class Interrupt(TrainerCallback):
    """Stops the process mid-run (like Ctrl-C) after ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= self.step:
            raise KeyboardInterrupt


# -- end to end ------------------------------------------------------------------------------------------
def test_train_expert_cli_registers_adapter_with_sha256_and_record(
    cli, registry: Registry, data_file: Path, tiny_base: Path
) -> None:  # noqa: ANN001
    result = cli(
        "train-expert", "adder", "--data", str(data_file), "--max-steps", "3", "--lr", "1e-3",
        "--batch-size", "2", "--grad-accum", "1", "--warmup", "0", "--max-length", "64", "--rank", "4",
        "--registry", str(registry.root), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    entry = registry.get_expert("adder")
    weights = registry.expert_dir(entry) / "adapter_model.safetensors"
    assert entry.sha256 == sha256_file(weights) == out["entry"]["sha256"]
    assert entry.rank == 4 and entry.alpha == 4.0  # alpha follows the rank
    record = entry.training
    assert record is not None
    assert (record.steps, record.examples, record.dataset) == (3, 12, str(data_file))
    assert record.learning_rate == 1e-3 and record.final_loss is not None and math.isfinite(record.final_loss)
    assert record.settings["lr"] == 1e-3 and record.settings["max_steps"] == 3
    config = json.loads((registry.expert_dir(entry) / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_base)
    assert registry.validate() == []
    assert checkpoints(work_dir(registry, "adder")) == []  # cleaned up once registered
    from safetensors.torch import load_file

    lora_b = [t for k, t in load_file(str(weights)).items() if "lora_B" in k]
    assert lora_b and any(bool(t.abs().sum() > 0) for t in lora_b)  # B starts at zero: it was trained


def test_training_lowers_the_loss(registry: Registry, data_file: Path) -> None:
    recorder = Recorder()
    result = train_expert(registry, "adder", settings(data_file, max_steps=8, lr=3e-3), callbacks=[recorder])
    losses = [log["loss"] for log in recorder.logs]
    assert len(losses) == 8 and result.steps == 8
    assert result.final_loss == losses[-1] < losses[0]
    assert all("grad_norm" in log for log in recorder.logs)


def test_plugin_expert_uses_its_spec_rank_and_dataset(registry: Registry) -> None:
    plan: dict[str, Any] = {}
    train_expert(
        registry, "factoid", build_settings(overrides={**FAST, "max_steps": 1, "limit": 4, "offline": True}),
        on_start=plan.update,
    )  # fmt: skip
    entry = registry.get_expert("factoid")
    assert entry.rank == 8 and entry.plugin == "mole_plugins.experts"
    assert entry.training is not None and entry.training.dataset == "wikitext-factoid"
    assert plan["examples"] == 4 and plan["lora_rank"] == 8 and entry.examples  # routing examples kept


def test_unknown_expert_without_data_lists_known_experts(cli, registry: Registry) -> None:  # noqa: ANN001
    result = cli("train-expert", "nosuch", "--registry", str(registry.root))
    assert result.exit_code != 0
    assert "no expert spec 'nosuch'" in result.stderr and "reasoning" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_data_row_is_one_line_error(cli, registry: Registry, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "q", "completion": "a"}\n{"prompt": "q", "answer": "a"}\n')
    result = cli("train-expert", "adder", "--data", str(bad), "--registry", str(registry.root))
    assert result.exit_code != 0
    assert f"{bad}:2:" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert registry.load().experts == []


# -- divergence and resume ------------------------------------------------------------------------------
def test_divergence_stops_and_keeps_last_good_checkpoint(registry: Registry, data_file: Path) -> None:
    recorder = Recorder()
    with pytest.raises(TrainingDivergedError) as info:
        train_expert(
            registry, "adder", settings(data_file, max_steps=8, save_every=1, keep_checkpoints=5),
            callbacks=[Poison(step=4), recorder],
        )  # fmt: skip
    work = work_dir(registry, "adder")
    message = str(info.value)
    assert "diverged at step 4" in message and "loss is nan" in message
    # the loss at step 4 judged the weights after step 3: checkpoint 3 is suspect, 2 is the last good one
    assert str(work / "checkpoint-2") in message
    assert [step for step, _ in checkpoints(work)] == [1, 2]
    assert (work / "diverged-checkpoint-3").is_dir() and not (work / "checkpoint-4").exists()
    assert max(recorder.steps) == 4  # stopped right away
    assert registry.load().experts == []  # nothing registered


def test_exploding_loss_is_divergence() -> None:
    guard = DivergenceGuard(max_loss=1e4, factor=100)
    assert guard.check(float("inf"), 1.0) == "loss is inf"
    assert "exceeds" in (guard.check(2e4, 1.0) or "")
    assert guard.check(3.0, float("nan")) == "gradient norm is nan"
    assert guard.check(3.0, 1.0) is None
    guard.first_loss = 2.0
    assert "100x the first" in (guard.check(250.0, 1.0) or "")
    assert guard.check(150.0, 1.0) is None


def test_guard_blocks_the_save_of_the_diverged_step() -> None:
    from transformers import TrainerControl, TrainerState

    guard, state, control = DivergenceGuard(), TrainerState(), TrainerControl()
    state.global_step = 5
    guard.on_log(None, state, control, logs={"loss": 2.0, "grad_norm": 1.0})
    assert guard.good_before == 5 and not control.should_training_stop
    state.global_step = 6
    control.should_save = True
    guard.on_log(None, state, control, logs={"loss": float("nan"), "grad_norm": 1.0})
    assert control.should_training_stop and not control.should_save
    assert guard.good_before == 5 and guard.diverged == {
        "step": 6,
        "loss": guard.diverged["loss"],
        "reason": "loss is nan",
    }


def test_resume_continues_from_the_checkpoint_step(registry: Registry, data_file: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        train_expert(
            registry, "adder", settings(data_file, max_steps=6, save_every=2), callbacks=[Interrupt(4)]
        )
    work = work_dir(registry, "adder")
    assert [step for step, _ in checkpoints(work)] == [2, 4]
    recorder = Recorder()
    result = train_expert(
        registry,
        "adder",
        settings(data_file, max_steps=6, save_every=2, lr=1e-4),
        resume=True,
        callbacks=[recorder],
    )
    assert result.resumed_from == str(work / "checkpoint-4")
    assert recorder.steps == [5, 6]  # continued, did not restart
    assert result.steps == 6 and registry.get_expert("adder").training.steps == 6
    # the lower peak lr asked for on resume applies (the checkpoint's scheduler would restore 1e-3)
    assert all(log["learning_rate"] <= 1e-4 for log in recorder.logs)


def test_resume_after_divergence_picks_the_last_good_checkpoint(registry: Registry, data_file: Path) -> None:
    with pytest.raises(TrainingDivergedError):
        train_expert(registry, "adder", settings(data_file, max_steps=6, save_every=1, keep_checkpoints=5),
                     callbacks=[Poison(step=4)])  # fmt: skip
    recorder = Recorder()
    result = train_expert(
        registry, "adder", settings(data_file, max_steps=5), resume=True, callbacks=[recorder]
    )
    assert result.resumed_from is not None and result.resumed_from.endswith("checkpoint-2")
    assert recorder.steps == [3, 4, 5]


def test_resume_without_checkpoint_is_an_error(registry: Registry, data_file: Path) -> None:
    with pytest.raises(MoleError, match="no checkpoint to resume"):
        train_expert(registry, "adder", settings(data_file, max_steps=1), resume=True)


def test_second_training_of_the_same_expert_is_refused(cli, registry: Registry, data_file: Path) -> None:  # noqa: ANN001
    import subprocess
    import sys

    path = lock_path(registry, "adder")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(  # another process training "adder" (holding its lock; no heavy imports)
        [sys.executable, "-c",
         f"import time, filelock\nwith filelock.FileLock({str(path)!r}):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = cli("train-expert", "adder", "--data", str(data_file), "--registry", str(registry.root))
        assert result.exit_code != 0
        assert "already being trained" in result.stderr and len(result.stderr.strip().splitlines()) == 1
        with pytest.raises(RegistryBusyError), expert_lock(registry, "adder"):
            pass
        with expert_lock(registry, "other"):  # other experts are not blocked
            pass
    finally:
        holder.kill()
        holder.wait()
    with expert_lock(registry, "adder"):  # released when the holder ends
        pass


# -- settings -------------------------------------------------------------------------------------------
def test_paper_protocol_is_the_default() -> None:
    s = build_settings()
    assert (s.lr, s.batch_size, s.grad_accum, s.max_grad_norm, s.warmup) == (1e-6, 2, 8, 0.5, 100)
    assert (s.scheduler, s.weight_decay, s.max_length, s.epochs) == ("cosine", 0.01, 512, 2.0)


def test_flags_override_config_which_overrides_preset(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('lr = 5e-4\nbatch-size = 3\nmax_steps = 7\ndataset = "gsm8k"\n')
    s = build_settings(toml, {"lr": 1e-4, "seed": None}, preset="quick")
    assert s.lr == 1e-4  # flag beats file
    assert s.batch_size == 3 and s.max_steps == 7 and s.dataset == "gsm8k"  # file beats preset
    assert s.max_length == 256 and s.grad_accum == 1  # preset beats defaults
    assert s.seed == 42  # an unset flag changes nothing
    js = tmp_path / "train.json"
    js.write_text(json.dumps({"lr": 3e-4, "warmup": 0.1}))
    s = build_settings(js, {})
    assert s.lr == 3e-4 and s.warmup == 0.1 and s.batch_size == 2


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("c.toml", "lr = [\n", "invalid TOML"),
        ("c.json", "{lr: 1}", "invalid JSON"),
        ("c.toml", "lrr = 1e-4\n", "unknown setting 'lrr'"),
        ("c.toml", 'lr = "fast"\n', "lr:"),
        ("c.toml", "batch_size = 0\n", "batch_size:"),
        ("c.toml", "warmup = 2.5\n", "warmup"),
        ("c.json", "[1, 2]", "expected a table"),
    ],
)
def test_bad_config_file_is_one_line_error(
    cli, registry: Registry, tmp_path: Path, name: str, content: str, message: str
) -> None:  # noqa: ANN001
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        build_settings(path)
    result = cli("train-expert", "reasoning", "--config", str(path), "--registry", str(registry.root))
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_missing_config_and_bad_flag_value(cli, registry: Registry, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli(
        "train-expert", "reasoning", "--config", str(tmp_path / "no.toml"), "--registry", str(registry.root)
    )
    assert result.exit_code != 0 and "does not exist" in result.stderr
    result = cli("train-expert", "reasoning", "--lr", "-1", "--registry", str(registry.root))
    assert result.exit_code != 0 and "flags: lr:" in result.stderr
