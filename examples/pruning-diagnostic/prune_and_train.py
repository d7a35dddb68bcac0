"""The MoLE paper's "key finding", re-run: structured-prune 15% of the base model's MLP channels, then
train a LoRA expert on it, next to the same training on the unpruned model.

    python examples/pruning-diagnostic/prune_and_train.py                # SmolLM2-135M, minutes on CPU
    python examples/pruning-diagnostic/prune_and_train.py --quick        # a tiny random Llama, seconds

Each run trains the reasoning expert's LoRA (rank 64, every projection) on GSM8K under a profile:
``paper`` (MoLE's defaults, the paper's protocol: lr 1e-6, batch 2 x 8, grad norm 0.5, cosine; the
paper's 100 warmup steps of ~1,250 become the same 8% of this short run) and ``quick`` (lr 2e-4,
batch 4). Every step's loss and gradient norm is recorded. The divergence guard (MoLE's
``DivergenceGuard``) only stops a run, so the curve with it is the curve without it cut where it fires:
each logged step is replayed through the guard to report that step. Answer NLL on held-out GSM8K
problems is measured before and after. Output: ``results.json``, ``results.md`` (the tables) and
``curves.png`` (if matplotlib is installed) in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mole_core import basemodel
from mole_core.datasets import CompletionCollator, encode_examples, pad_id
from mole_core.evaluation import completion_nll
from mole_core.manifest import BaseModelRef
from mole_core.plugins import get_dataset_spec
from mole_core.training import DivergenceGuard
from mole_core.training.settings import PRESETS, TrainingSettings

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny random Llama and a few steps (a test run)")
    p.add_argument("--base", default=basemodel.DEFAULT_BASE, help="base model (default: MoLE's SmolLM2)")
    p.add_argument("--ratio", type=float, default=0.15, help="share of MLP channels removed per layer")
    p.add_argument("--method", choices=["magnitude", "wanda"], default="wanda")
    p.add_argument("--profiles", default="paper,quick,hot", help="comma-separated: paper, quick, hot")
    p.add_argument("--models", default="unpruned,pruned", help="comma-separated: unpruned, pruned")
    p.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    p.add_argument("--eval-n", type=int, default=24, help="held-out GSM8K problems for answer NLL")
    p.add_argument("--out", type=Path, default=Path("pruning-results"))
    return p.parse_args()


# -- models --------------------------------------------------------------------------------------------
def tiny_llama(directory: Path) -> tuple[Any, Any]:
    """A random 2-layer Llama and a byte-level BPE tokenizer trained on a few GSM8K problems."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [e.prompt + " " + e.completion for e in get_dataset_spec("gsm8k").load("train", 64, offline=True)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<eos>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    return LlamaForCausalLM(config), tokenizer


def load(args: argparse.Namespace, scratch: Path) -> tuple[Any, Any]:
    if args.quick:
        return tiny_llama(scratch)
    ref = BaseModelRef(id=args.base)
    source = basemodel.resolve_source(ref)
    return basemodel.load_model(ref, source, dtype="float32"), basemodel.load_tokenizer(ref, source)


# -- pruning -------------------------------------------------------------------------------------------
def channel_scores(model: Any, method: str, calibration: list[dict[str, list[int]]]) -> list[torch.Tensor]:
    """Per layer, one score per MLP channel (a row of gate/up, a column of down); low scores go.

    magnitude: ||W_gate[j]|| * ||W_up[j]|| * ||W_down[:, j]||. wanda (structured, as Wanda scores a
    weight by |W| times its input's norm): ||W_down[:, j]||_1 * ||a_j||_2 over calibration tokens,
    a_j the channel's activation entering down_proj.
    """
    mlps = [layer.mlp for layer in model.model.layers]
    if method == "magnitude":
        return [m.gate_proj.weight.norm(dim=1) * m.up_proj.weight.norm(dim=1) * m.down_proj.weight.norm(dim=0)
                for m in mlps]  # fmt: skip
    norms = [torch.zeros(m.down_proj.in_features) for m in mlps]
    hooks = [
        m.down_proj.register_forward_pre_hook(
            lambda mod, inp, i=i: norms[i].add_(inp[0].detach().float().pow(2).sum(dim=(0, 1)))
        )
        for i, m in enumerate(mlps)
    ]
    with torch.no_grad():
        for feature in calibration:
            model(input_ids=torch.tensor([feature["input_ids"]]))
    for hook in hooks:
        hook.remove()
    return [m.down_proj.weight.abs().sum(dim=0) * n.sqrt() for m, n in zip(mlps, norms, strict=True)]


def prune(model: Any, scores: list[torch.Tensor], ratio: float) -> int:
    """Remove the lowest-scoring ``ratio`` of each layer's MLP channels (weights sliced, shapes shrink)."""
    kept = 0
    for layer, score in zip(model.model.layers, scores, strict=True):
        mlp = layer.mlp
        keep = int(round(score.numel() * (1 - ratio)))
        index = score.topk(keep).indices.sort().values
        mlp.gate_proj = _sliced(mlp.gate_proj, rows=index)
        mlp.up_proj = _sliced(mlp.up_proj, rows=index)
        mlp.down_proj = _sliced(mlp.down_proj, cols=index)
        kept = keep
    model.config.intermediate_size = kept
    return kept


def _sliced(
    linear: nn.Linear, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None
) -> nn.Linear:
    weight = linear.weight.data
    weight = weight[rows] if rows is not None else weight[:, cols]
    out = nn.Linear(weight.shape[1], weight.shape[0], bias=linear.bias is not None)
    out.weight.data = weight.clone()
    if linear.bias is not None:
        out.bias.data = linear.bias.data[rows].clone() if rows is not None else linear.bias.data.clone()
    return out


# -- training ------------------------------------------------------------------------------------------
PROFILES = {**PRESETS, "hot": {**PRESETS["quick"], "lr": 2e-3}}
"""MoLE's presets, plus ``hot``: the quick profile at 10x its learning rate, a stress test."""


def settings_for(profile: str, steps: int) -> TrainingSettings:
    """A profile's settings for a run of ``steps`` optimizer steps (the paper's warmup kept at 8%)."""
    values = {**PROFILES[profile], "max_steps": steps}
    if profile == "paper":
        values["warmup"] = 0.08
    return TrainingSettings(**values)


def record_callback(rows: list[dict[str, float]]) -> Any:
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                grad = logs.get("grad_norm")
                rows.append({"step": state.global_step, "loss": float(logs["loss"]),
                             "grad_norm": float("nan") if grad is None else float(grad),
                             "lr": float(logs.get("learning_rate", 0.0))})  # fmt: skip

    return Record()


def train(model: Any, tokenizer: Any, features: list, settings: TrainingSettings, work: Path) -> list[dict]:
    """LoRA (rank 64, alpha 64, every projection) trained with ``settings``; every step's log."""
    from peft import LoraConfig, get_peft_model
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    set_seed(settings.seed)
    peft_model = get_peft_model(model, LoraConfig(r=64, lora_alpha=64, lora_dropout=0.1,
                                                  target_modules=TARGETS, task_type="CAUSAL_LM"))  # fmt: skip
    args = TrainingArguments(
        output_dir=str(work), per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum, learning_rate=settings.lr, max_steps=settings.max_steps,
        warmup_steps=settings.warmup, lr_scheduler_type=settings.scheduler, weight_decay=settings.weight_decay,
        max_grad_norm=settings.max_grad_norm, logging_steps=1, logging_nan_inf_filter=False, save_strategy="no",
        report_to="none", use_cpu=True, seed=settings.seed, disable_tqdm=True, remove_unused_columns=False,
        label_names=["labels"], dataloader_num_workers=0,
    )  # fmt: skip
    rows: list[dict[str, float]] = []
    trainer = Trainer(model=peft_model, args=args, train_dataset=features,
                      data_collator=CompletionCollator(pad_id(tokenizer)), callbacks=[record_callback(rows)])  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return rows


def guard_stop(rows: list[dict[str, float]]) -> dict[str, Any] | None:
    """Where MoLE's divergence guard, fed this run's logs, would have stopped it (None: never)."""
    guard = DivergenceGuard(TrainingSettings().max_loss, TrainingSettings().loss_factor)
    for row in rows:
        reason = guard.check(row["loss"], row["grad_norm"])
        if reason is not None:
            return {"step": row["step"], "reason": reason}
        guard.first_loss = row["loss"] if guard.first_loss is None else guard.first_loss
    return None


# -- the experiment --------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="mole-prune-"))
    spec = get_dataset_spec("gsm8k")
    started = time.monotonic()
    _, tokenizer = load(args, scratch)
    max_length = 128 if args.quick else 512
    features = encode_examples(tokenizer, spec.load("train", 400, offline=True), max_length)
    held_out = spec.load("test", args.eval_n, offline=True)
    report: dict[str, Any] = {"base": "tiny random Llama" if args.quick else args.base, "ratio": args.ratio,
                              "method": args.method, "steps": args.steps, "runs": []}  # fmt: skip
    for profile in args.profiles.split(","):
        for pruned in [name == "pruned" for name in args.models.split(",")]:
            model, _ = load(args, scratch)
            if pruned:
                before = model.config.intermediate_size
                kept = prune(model, channel_scores(model, args.method, features[:16]), args.ratio)
                report["intermediate_size"] = {"before": before, "kept": kept}
            settings = settings_for(profile, args.steps)
            settings.max_length = min(settings.max_length, max_length)
            data = encode_examples(tokenizer, spec.load("train", 400, offline=True), settings.max_length)
            before = completion_nll(model, tokenizer, held_out, max_length).loss
            t0 = time.monotonic()
            rows = train(model, tokenizer, data, settings, scratch / f"{pruned}-{profile}")
            after = completion_nll(model, tokenizer, held_out, max_length).loss
            report["runs"].append({
                "model": "pruned" if pruned else "unpruned", "profile": profile, "lr": settings.lr,
                "effective_batch": settings.batch_size * settings.grad_accum, "nll_before": before,
                "nll_after": after, "steps": rows, "guard": guard_stop(rows),
                "seconds": round(time.monotonic() - t0, 1),
            })  # fmt: skip
            print(summary_line(report["runs"][-1]), flush=True)
            save(report, args.out, time.monotonic() - started)  # a long run's finished parts survive a stop
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def summary_line(run: dict[str, Any]) -> str:
    losses = [r["loss"] for r in run["steps"]]
    grads = [r["grad_norm"] for r in run["steps"] if math.isfinite(r["grad_norm"])]
    guard = f"guard stops at step {run['guard']['step']}" if run["guard"] else "guard never fires"
    return (f"| {run['model']} | {run['profile']} | {run['lr']:g} | {run['nll_before']:.3f} | {run['nll_after']:.3f} "
            f"| {losses[0]:.3f} → {losses[-1]:.3f} (max {max(losses):.3f}) | {max(grads, default=float('nan')):.3g} "
            f"| {guard} | {run['seconds']:.0f}s |")  # fmt: skip


def tables(report: dict[str, Any]) -> str:
    head = ("| model | profile | lr | answer NLL before | after | train loss first → last (max) | max grad norm "
            "| divergence guard | time |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    lines = [f"Base {report['base']}, {report['method']} pruning of {report['ratio']:.0%} of MLP channels "
             f"({report.get('intermediate_size')}), {report['steps']} steps per run, {report['seconds']:.0f}s in all.",
             "", head, *(summary_line(r) for r in report["runs"]), "", "Per step (loss / grad norm):", ""]  # fmt: skip
    names = [f"{r['model']} {r['profile']}" for r in report["runs"]]
    lines += ["| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i in range(max(len(r["steps"]) for r in report["runs"])):
        cells = [f"{r['steps'][i]['loss']:.3f} / {r['steps'][i]['grad_norm']:.3g}" if i < len(r["steps"]) else "-"
                 for r in report["runs"]]  # fmt: skip
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (loss_ax, grad_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for run in report["runs"]:
        steps = [r["step"] for r in run["steps"]]
        style = "-" if run["model"] == "pruned" else "--"
        label = f"{run['model']}, {run['profile']} (lr {run['lr']:g})"
        loss_ax.plot(steps, [r["loss"] for r in run["steps"]], style, marker="o", ms=3, label=label)
        grad_ax.plot(steps, [r["grad_norm"] for r in run["steps"]], style, marker="o", ms=3, label=label)
    loss_ax.set(title="training loss", xlabel="optimizer step")
    grad_ax.set(title="gradient norm (before clipping to 0.5)", xlabel="optimizer step", yscale="log")
    loss_ax.legend(fontsize=8)
    fig.suptitle(
        f"LoRA on {report['base']}: {report['ratio']:.0%} of MLP channels pruned ({report['method']}) vs not"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def save(report: dict[str, Any], out: Path, seconds: float) -> bool:
    """Write results.json, results.md and (with matplotlib) curves.png; whether the plot was drawn."""
    report["seconds"] = round(seconds, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "results.md").write_text(tables(report))
    return plot(report, out / "curves.png")


def main() -> None:
    args = parse()
    if args.quick:
        args.steps, args.eval_n = min(args.steps, 3), min(args.eval_n, 4)
    torch.manual_seed(0)
    report = run(args)
    drew = save(report, args.out, report["seconds"])
    print(tables(report))
    print(
        f"wrote {args.out}/results.json, results.md"
        + (", curves.png" if drew else " (no matplotlib: no plot)")
    )


if __name__ == "__main__":
    main()
