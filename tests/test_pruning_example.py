"""examples/pruning-diagnostic: pruning shrinks the MLPs and keeps the model usable; a quick run writes
its curves and tables; the divergence guard is replayed on the logged steps."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "pruning-diagnostic" / "prune_and_train.py"


@pytest.fixture(scope="module")
def script():  # noqa: ANN201
    spec = importlib.util.spec_from_file_location("prune_and_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("method", ["magnitude", "wanda"])
def test_pruning_removes_the_lowest_scoring_channels(script, tmp_path: Path, method: str) -> None:  # noqa: ANN001
    import torch

    model, tokenizer = script.tiny_llama(tmp_path)
    ids = tokenizer("Natalia sold 48 clips in April.")["input_ids"]
    scores = script.channel_scores(model, method, [{"input_ids": ids}])
    assert [s.shape for s in scores] == [torch.Size([128])] * 2
    mlp = model.model.layers[0].mlp
    keep = scores[0].topk(109).indices.sort().values
    expected_gate = mlp.gate_proj.weight.data[keep].clone()
    expected_down = mlp.down_proj.weight.data[:, keep].clone()
    assert script.prune(model, scores, 0.15) == 109 and model.config.intermediate_size == 109
    mlp = model.model.layers[0].mlp
    assert mlp.gate_proj.weight.shape == (109, 64) and mlp.up_proj.weight.shape == (109, 64)
    assert mlp.down_proj.weight.shape == (64, 109)
    assert torch.equal(mlp.gate_proj.weight, expected_gate) and torch.equal(
        mlp.down_proj.weight, expected_down
    )
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([ids])).logits).all()


def test_the_guard_is_replayed_on_the_logged_steps(script) -> None:  # noqa: ANN001
    calm = [{"step": i, "loss": 2.0 - 0.1 * i, "grad_norm": 0.4} for i in range(1, 5)]
    assert script.guard_stop(calm) is None
    exploding = [*calm, {"step": 5, "loss": 2.0 * 150, "grad_norm": 80.0}]
    assert script.guard_stop(exploding) == {
        "step": 5,
        "reason": "loss 300 is over 100x the first logged loss 1.9",
    }
    nan = [*calm, {"step": 5, "loss": float("nan"), "grad_norm": float("nan")}]
    assert script.guard_stop(nan)["step"] == 5


def test_a_quick_run_writes_curves_and_tables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--profiles", "quick", "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    assert [(r["model"], r["profile"]) for r in report["runs"]] == [
        ("unpruned", "quick"),
        ("pruned", "quick"),
    ]
    assert report["intermediate_size"] == {"before": 128, "kept": 109}
    for run in report["runs"]:
        assert [s["step"] for s in run["steps"]] == [1, 2, 3]
        assert all(s["loss"] > 0 and s["grad_norm"] > 0 for s in run["steps"])
        assert run["lr"] == 2e-4 and run["nll_before"] > 0 and run["nll_after"] > 0
    table = (out / "results.md").read_text()
    assert "| pruned | quick | 0.0002 |" in table and "| unpruned | quick | 0.0002 |" in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert not (out / "curves.png").exists() and "no matplotlib" in done.stdout
    else:
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
