"""MoleLM (lm-eval's HFLM with routed, mixed-adapter batches) and ``mole eval --tasks`` on tiny models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from mole_core import MoleError, Registry  # noqa: E402
from mole_core.harness.model import MoleLM  # noqa: E402
from mole_core.harness.run import evaluate_tasks, oracle  # noqa: E402
from mole_core.routing import Router  # noqa: E402
from mole_core.runtime import MoLE  # noqa: E402


class EndsWithDigit(Router):
    """``reasoning`` for a query ending in a digit, ``factoid`` otherwise (deterministic, no model)."""

    kind = "ends-with-digit"

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        out = []
        for query in queries:
            digit = query.rstrip()[-1:].isdigit()
            out.append([0.9 if (label == "reasoning") == digit else 0.1 for label in self.labels])
        return out

    def save(self, directory: Path) -> None:  # pragma: no cover
        raise NotImplementedError


@pytest.fixture(scope="module")
def long_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama with a 2,048-token context: the bundled tasks' worked solutions are long in its
    byte-level tokens."""
    from tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-2k", positions=2048)


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, long_base: Path) -> Registry:
    from tiny import make_adapter

    root = tmp_path_factory.mktemp("harness")
    registry = Registry.init(root / "reg", base=str(long_base))
    for name, seed in (("reasoning", 1), ("factoid", 2)):
        registry.add_expert(
            name, make_adapter(long_base, root / name, rank=4, seed=seed), plugin="mole_plugins.experts"
        )
    return registry


@pytest.fixture(scope="module")
def system(reg: Registry) -> MoLE:
    return MoLE.from_registry(reg, router=EndsWithDigit(["reasoning", "factoid"]))


def ll_requests(pairs: Sequence[tuple[str, str]]) -> list[Instance]:
    return [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]


PAIRS = [
    ("Solve 2x + 3 = 7", " for x."),
    ("What is the capital of France?", " Paris."),
    ("Natalia sold 48", " clips in April."),
    ("The quick brown fox", " jumps over the lazy dog."),
]


def direct_loglikelihood(
    lm: MoleLM, reg: Registry, expert: str | None, context: str, continuation: str
) -> float:
    """The sum of log-probabilities of the continuation's tokens under one adapter alone (or the bare
    base), computed straight from a freshly loaded model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(reg.load().base.id)
    if expert is not None:
        model = PeftModel.from_pretrained(model, str(reg.expert_dir(reg.load().expert(expert))))
    model.eval()
    ctx, cont = lm._encode_pair(context, continuation)
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    return float(logprobs[torch.arange(len(targets)), targets][-len(cont) :].sum())


def test_forced_loglikelihoods_equal_a_direct_computation(system: MoLE, reg: Registry) -> None:
    for expert in ("reasoning", "base"):
        lm = MoleLM(mole=system, expert=expert, batch_size=4)
        got = [ll for ll, _ in lm.loglikelihood(ll_requests(PAIRS[:2]))]
        want = [direct_loglikelihood(lm, reg, None if expert == "base" else expert, *p) for p in PAIRS[:2]]
        assert got == pytest.approx(want, abs=2e-4)
        assert lm.routed == {expert: 2}


def test_routed_loglikelihood_runs_each_request_with_its_expert_in_one_batch(
    system: MoLE, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str | None]] = []
    rows = system.rows

    def spy(per_row):  # noqa: ANN001, ANN202
        batches.append(list(per_row))
        return rows(per_row)

    monkeypatch.setattr(system, "rows", spy)
    routed = MoleLM(mole=system, batch_size=8)
    got = routed.loglikelihood(ll_requests(PAIRS))
    monkeypatch.undo()
    assert routed.routed == {"reasoning": 2, "factoid": 2}
    assert len(batches) == 1 and sorted(map(str, batches[0])) == [
        "factoid",
        "factoid",
        "reasoning",
        "reasoning",
    ]
    expected = {
        name: MoleLM(mole=system, expert=name, batch_size=1).loglikelihood(ll_requests(PAIRS))
        for name in ("reasoning", "factoid")
    }
    for i, (context, _) in enumerate(PAIRS):
        name = "reasoning" if context[-1].isdigit() else "factoid"
        assert got[i][0] == pytest.approx(expected[name][i][0], abs=2e-4)
        other = expected["factoid" if name == "reasoning" else "reasoning"][i][0]
        assert abs(got[i][0] - other) > 1e-3  # the experts really differ on this request


def test_rows_that_look_alike_but_route_differently_are_not_mixed_up(system: MoLE) -> None:
    # same tokens fed to the model (context + continuation minus its last token), different contexts
    pairs = [("Natalia sold 48", " clips"), ("Natalia sold", " 48 clips")]
    got = MoleLM(mole=system, batch_size=8).loglikelihood(ll_requests(pairs))
    want = [
        MoleLM(mole=system, expert=e, batch_size=1).loglikelihood(ll_requests([p]))[0][0]
        for e, p in zip(("reasoning", "factoid"), pairs, strict=True)
    ]
    assert [g for g, _ in got] == pytest.approx(want, abs=2e-4)


def test_rolling_loglikelihood_is_routed_per_document(system: MoLE) -> None:
    docs = [
        "Natalia sold clips to 48 of her friends in April 2",
        "Compare the philosophies of Plato and Aristotle.",
    ]
    requests = [Instance("loglikelihood_rolling", {}, (d,), i) for i, d in enumerate(docs)]
    routed = MoleLM(mole=system, batch_size=8).loglikelihood_rolling(requests)
    forced = [
        MoleLM(mole=system, expert=e, batch_size=1).loglikelihood_rolling([r])[0]
        for e, r in zip(("reasoning", "factoid"), requests, strict=True)
    ]
    assert routed == pytest.approx(forced, abs=2e-4)


def test_generation_is_routed_and_matches_each_expert_alone(system: MoLE) -> None:
    prompts = ["Question: 2 + 2 = 4", "Question: capital of France?", "Solve 7"]
    requests = [
        Instance("generate_until", {}, (p, {"until": ["\n\n"], "max_gen_toks": 6}), i)
        for i, p in enumerate(prompts)
    ]
    routed = MoleLM(mole=system, batch_size=8)
    got = routed.generate_until(requests)
    assert routed.routed == {"reasoning": 2, "factoid": 1}
    for i, prompt in enumerate(prompts):
        expert = "reasoning" if prompt[-1].isdigit() else "factoid"
        alone = MoleLM(mole=system, expert=expert, batch_size=1).generate_until([requests[i]])
        assert got[i] == alone[0]


def test_an_unknown_expert_is_refused(system: MoLE) -> None:
    with pytest.raises(MoleError, match="no expert 'nope'"):
        MoleLM(mole=system, expert="nope")


def test_oracle_takes_the_best_expert_per_document() -> None:
    def results(task: str, values: list[float], higher: bool) -> dict:
        samples = [
            {"doc_id": i, "filter": "none", "metrics": ["acc"], "acc": v} for i, v in enumerate(values)
        ]
        return {
            "results": {task: {"acc,none": sum(values) / len(values), "acc_stderr,none": 0.1}},
            "higher_is_better": {task: {"acc": higher}},
            "samples": {task: samples},
            "configs": {task: {"metric_list": [{"metric": "acc", "aggregation": "mean"}]}},
        }

    scores, notes = oracle({"a": results("t", [1, 0, 0, 1], True), "b": results("t", [0, 0, 1, 1], True)})
    assert [(s.task, s.metric, s.value) for s in scores] == [("t", "acc", 0.75)] and not notes
    # every single expert scores 0.5: the oracle is above each of them
    lower, _ = oracle({"a": results("t", [3, 1, 2], False), "b": results("t", [1, 2, 2], False)})
    assert lower[0].value == pytest.approx((1 + 1 + 2) / 3)


def test_compare_runs_every_configuration_on_the_same_items(reg: Registry, system: MoLE) -> None:
    report = evaluate_tasks(reg, ["mole_gsm8k_mc"], limit=3, compare=True, system=system)
    names = [c.name for c in report.configurations]
    assert names == ["base", "reasoning", "factoid", "routed", "oracle"]
    for config in report.configurations[:-1]:
        assert config.samples == {"mole_gsm8k_mc": 3}
        assert {s.metric for s in config.scores} == {"acc", "acc_norm"}
    routed = report.column("routed")
    assert routed is not None and sum(routed.routed_to.values()) == 3 * 4  # four choices per question
    for metric in ("acc", "acc_norm"):
        value = {c.name: next(s.value for s in c.scores if s.metric == metric) for c in report.configurations}
        assert value["oracle"] >= max(value["reasoning"], value["factoid"])


def test_mole_eval_tasks_runs_the_bundled_tasks_offline(cli, reg: Registry) -> None:  # noqa: ANN001
    result = cli("eval", "--registry", str(reg.root), "--tasks", "mole_gsm8k_mc,mole_gsm8k", "--limit", "2",
                 "--expert", "reasoning", "--offline", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    (config,) = report["configurations"]
    assert config["name"] == "reasoning" and config["samples"] == {"mole_gsm8k_mc": 2, "mole_gsm8k": 2}
    keys = {(s["task"], s["metric"], s["filter"]) for s in config["scores"]}
    assert ("mole_gsm8k", "exact_match", "flexible-extract") in keys and (
        "mole_gsm8k_mc",
        "acc",
        "none",
    ) in keys
    assert all(0.0 <= s["value"] <= 1.0 for s in config["scores"])


def test_mole_eval_tasks_errors_are_one_line(cli, reg: Registry) -> None:  # noqa: ANN001
    from click.testing import CliRunner

    from mole_core.cli import cli as mole_cli

    result = CliRunner().invoke(
        mole_cli, ["eval", "--registry", str(reg.root), "--tasks", "no_such_task", "--offline"]
    )
    assert result.exit_code != 0 and "unknown lm-eval task 'no_such_task'" in result.output
    assert "mole_gsm8k_mc" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(
        mole_cli,
        ["eval", "--registry", str(reg.root), "--tasks", "mole_gsm8k", "--compare", "--expert", "base"],
    )
    assert result.exit_code != 0 and "drop --expert" in result.output


def test_lm_evals_own_command_line_runs_mole(reg: Registry) -> None:
    import subprocess
    import sys

    args = [
        "--model",
        "mole",
        "--model_args",
        f"registry={reg.root},expert=factoid",
        "--tasks",
        "mole_gsm8k_mc",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "mole_core.harness", *args, "--limit", "1"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "mole_gsm8k_mc" in done.stdout and "acc_norm" in done.stdout and "expert': 'factoid'" in done.stdout
    )
