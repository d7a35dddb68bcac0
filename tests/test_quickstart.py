"""`mole quickstart` end to end at reduced size on a tiny model: every stage runs, re-runs reuse."""

from __future__ import annotations

import json
from pathlib import Path

from mole_core import Registry

SMALL = [
    "--steps",
    "2",
    "--limit",
    "8",
    "--max-length",
    "48",
    "--router",
    "bert-tiny",
    "--router-size",
    "120",
    "--n-texts",
    "2",
    "--full-models",
    "1",
    "--max-new-tokens",
    "4",
]


def test_quickstart_end_to_end_then_reuse(cli, tmp_path: Path, tiny_base: Path) -> None:
    target = tmp_path / "demo"
    result = cli("quickstart", str(target), "--base", str(tiny_base), *SMALL, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["trained"] == ["reasoning", "knowledge", "qa", "factoid"] and report["reused"] == []
    registry = Registry(target)
    manifest = registry.load()
    assert manifest.names() == ["reasoning", "knowledge", "qa", "factoid"]
    assert [e.rank for e in manifest.experts] == [64, 32, 16, 8]
    assert all(e.training is not None and e.training.steps == 2 for e in manifest.experts)
    assert manifest.router is not None and manifest.router.labels == [*manifest.names(), "base"]
    assert registry.validate() == []
    assert report["routing"]["paper_test16.jsonl"]["n"] == 16
    assert report["routing"]["real_questions_dev.jsonl"]["n"] == 95
    assert len(report["answers"]) == 4 and all(
        a["expert"] in [*manifest.names(), "base"] for a in report["answers"]
    )  # an undertrained tiny router may fall back
    assert report["memory"]["n_experts"] == 4 and report["memory"]["full_models_measured"] == 1
    assert set(report["evaluation"]["losses"]["rows"]) == {"base", *manifest.names()}
    gain = report["evaluation"]["gain"]  # routed vs best single expert vs oracle, per domain and overall
    assert (
        gain["columns"] == ["base", *manifest.names(), "routed", "oracle"]
        and gain["rows"][-1]["domain"] == "overall"
    )

    again = cli("quickstart", str(target), "--base", str(tiny_base), *SMALL)
    assert again.exit_code == 0, again.output
    assert "reusing expert reasoning" in again.stdout and "reusing router bert-tiny" in again.stdout
    assert "Memory, measured" in again.stdout and "held-out loss" in again.stdout
    assert "routed vs best single expert vs oracle" in again.stdout
    assert Registry(target).load().experts == manifest.experts  # nothing retrained


def test_quickstart_refuses_a_registry_of_another_base(cli, tmp_path: Path, tiny_base: Path) -> None:
    Registry.init(tmp_path / "demo", base="org/other")
    result = cli("quickstart", str(tmp_path / "demo"), "--base", str(tiny_base), *SMALL)
    assert result.exit_code == 1 and "is a registry for 'org/other'" in result.output


def test_quickstart_trains_in_micro_batches(tmp_path: Path, tiny_base: Path, monkeypatch) -> None:  # noqa: ANN001
    """The quickstart's update uses batch_size examples, one forward pass at a time (grad accumulation):
    batch 4 x 256 tokens in one pass held ~3 GB of activations for the 135M model."""
    import pytest
    from mole_plugins.paper.quickstart import QuickstartReport, QuickstartSettings, _train_experts

    from mole_core import training

    seen = []

    class Stop(Exception):
        pass

    def record(registry, name, settings, **kwargs):  # noqa: ANN001, ANN003, ANN202
        seen.append(settings)
        raise Stop

    monkeypatch.setattr(training, "train_expert", record)
    registry = Registry.init(tmp_path / "reg", base=str(tiny_base))
    settings = QuickstartSettings(base=str(tiny_base))
    with pytest.raises(Stop):
        _train_experts(registry, settings, QuickstartReport(registry=str(tmp_path)), lambda event: None, None)
    assert (seen[0].batch_size, seen[0].grad_accum) == (1, 4)
    odd = QuickstartSettings(base=str(tiny_base), batch_size=6, micro_batch=4)  # 4 does not divide 6
    with pytest.raises(Stop):
        _train_experts(registry, odd, QuickstartReport(registry=str(tmp_path)), lambda event: None, None)
    assert (seen[1].batch_size, seen[1].grad_accum) == (1, 6)
