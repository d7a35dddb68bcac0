"""The benchmarks at the tiny scale, through the real command, so they never rot.

Figures are checked for shape and sanity (every section present, positive speeds, memory growing
with N, the paper table's arithmetic), never for speed: speed targets live in benchmarks/ and their
results in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = {"paper", "memory", "routing", "generation", "adapters", "scaling", "vllm", "serving", "experts"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--scale", "tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads((out / "benchmarks.json").read_text()), (out / "benchmarks.md").read_text()


def test_every_section_ran(bench: tuple[dict[str, Any], str]) -> None:
    results, _ = bench
    assert set(results["sections"]) == SECTIONS
    for name, section in results["sections"].items():
        assert "error" not in section, (name, section.get("log_tail"))
    machine = results["machine"]
    for key in ("cpu", "logical_cores", "ram_bytes", "torch", "transformers", "peft", "python"):
        assert machine[key], key
    assert results["scale"] == "tiny" and results["date"]


def test_memory_grows_with_n_and_full_models_cost_more(bench: tuple[dict[str, Any], str]) -> None:
    model = bench[0]["sections"]["memory"]["models"]["tiny"]
    rows = model["rows"]
    assert [r["n"] for r in rows] == sorted(r["n"] for r in rows)
    for key in ("mole_tensor_bytes", "full_tensor_bytes"):
        values = [r[key] for r in rows]
        assert values == sorted(values) and len(set(values)) == len(values), key
    assert [r["full_extrapolated"] for r in rows] == [r["n"] > 2 for r in rows]
    assert all(e["tensor_bytes"] > 0 for e in model["per_expert"])
    assert len(model["full_models_measured"]) == 2
    # each extra expert adds its adapter to MoLE but a whole model to the full-model side
    n = rows[-1]["n"] - rows[0]["n"]
    per_full = (rows[-1]["full_tensor_bytes"] - rows[0]["full_tensor_bytes"]) / n
    assert per_full == pytest.approx(model["base_tensor_bytes"], rel=0.01)


def test_paper_table_arithmetic(bench: tuple[dict[str, Any], str]) -> None:
    paper = bench[0]["sections"]["paper"]
    assert paper["base_params"] == 3_212_749_824  # Llama-3.2-3B, tied embeddings counted once
    assert paper["formula_matches_peft"]
    fp32, bf16 = paper["dtypes"]["float32"], paper["dtypes"]["bfloat16"]
    assert fp32["mole_bytes"] == 2 * bf16["mole_bytes"] and fp32["full_bytes"] == 4 * fp32["base_bytes"]
    assert 0.73 < fp32["saved"] < 0.74
    ranks = paper["expert_ranks"]
    params = paper["expert_params"]
    assert params["reasoning"] * ranks["factoid"] == params["factoid"] * ranks["reasoning"]  # linear in r


def test_routing_figures_are_sane(bench: tuple[dict[str, Any], str]) -> None:
    routers = bench[0]["sections"]["routing"]["routers"]
    assert set(routers) == {"bert-tiny", "minilm", "embedding"}
    for router in routers.values():
        assert [b["batch"] for b in router["batches"]][0] == 1
        for b in router["batches"]:
            assert b["qps"] > 0 and 0 < b["p50_ms"] <= b["p99_ms"]


def test_generation_ways_checks_and_bf16(bench: tuple[dict[str, Any], str]) -> None:
    gen = bench[0]["sections"]["generation"]
    assert {"base", "peft_rows", "grouped", "one_at_a_time", "base_bf16", "stacked_bf16"} <= set(gen["ways"])
    for name, way in gen["ways"].items():
        assert way["seconds"] > 0 and way["speed_vs_base"] > 0, name
    assert gen["ways"]["base"]["speed_vs_base"] == pytest.approx(1.0)
    checks = gen["checks"]
    if checks["fast_path"]:  # correctness, not speed: the fast path must equal PEFT's per-row path
        assert {"stacked", "merged"} <= set(gen["ways"])
        for key in ("mixed", "one_expert"):
            assert checks[key]["rows_identical"] == 1.0
            assert (
                checks[key]["max_abs_logit_diff"] <= 1e-3
                and checks[key]["prefill_max_abs_logit_diff"] <= 1e-3
            )
        assert checks["base_bit_identical_after_merged_batches"]
    assert set(gen["routing_share_of_generation"]) == {"bert-tiny", "minilm", "embedding"}
    assert 0 <= gen["bf16"]["stacked_tokens_vs_fp32"]["tokens_equal"] <= 1


def test_adapters_and_scaling(bench: tuple[dict[str, Any], str]) -> None:
    sections = bench[0]["sections"]
    add = sections["adapters"]
    assert len(add["trials"]) == 2
    for trial in add["trials"]:
        assert trial["registry_add_s"] > 0 and trial["attach_s"] > 0 and trial["tensor_bytes"] > 0
        assert trial["routes_to_new_expert"]
    scaling = sections["scaling"]
    assert [r["n"] for r in scaling["rows"]] == [1, 4, 10]
    assert all(r["route_plus_one_expert_s"] > 0 for r in scaling["rows"])
    assert scaling["growth"]["route_plus_one_expert"] > 0 and scaling["growth"]["route_plus_mixed4"] > 0


def test_many_experts_section(bench: tuple[dict[str, Any], str]) -> None:
    results, document = bench
    sec = results["sections"]["experts"]
    small, large = sec["tiny"][0], sec["tiny"][-1]
    assert large["n"] > sec["cache"] and large["probe"]["loaded_at_start"] == 0, "a large registry pages in"
    assert large["probe"]["experts"] == large["n"] and small["probe"]["startup_s"] > 0
    cold = large["probe"]["cold"]
    assert 1.0 <= cold["reads_per_file"] < 1.5, "a cold expert reads its file once (plus its config)"
    for row in sec["tiny"]:
        mixed = row["probe"]["mixed"]
        assert mixed["answers_equal"] and mixed["loads_per_capped_batch"] > 0
    assert large["ops"]["validate_problems"] == 0 and large["ops"]["add_one_s"] > 0
    assert "## Many experts" in document and "cold expert costs one adapter read" in document


def test_document_and_targets(bench: tuple[dict[str, Any], str]) -> None:
    results, doc = bench
    names = {t["name"].split(" (")[0] for t in results["targets"]}
    assert {"mixed batch, 4 experts", "routing cost", "memory added per expert"} <= names
    assert all(t["pass"] in (True, False) for t in results["targets"])
    for heading in (
        "## Targets",
        "## Memory",
        "## The paper's table",
        "## Routing speed",
        "## Generation",
        "## Adapters",
    ):
        assert heading in doc
    assert results["machine"]["torch"] in doc and "GPU" in doc


def test_statistics_helpers() -> None:
    from benchmarks import alternate, percentile, summarise

    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0], 99) == 2.0
    calls: list[str] = []
    rounds = alternate(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 2, only_first={"b": 1}
    )
    assert calls == ["a", "b", "a"] and "b" not in rounds[1]
    stats = summarise([{"a": 1.0, "b": 2.0}, {"a": 1.0}], "a")
    assert stats["b"]["speed_vs_a"] == 0.5 and stats["a"]["speed_vs_a"] == 1.0


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--scale", "tiny", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_gpu_section_is_kept_beside_the_cpu_figures(
    bench: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    """A section measured on a GPU machine is merged under its own key; the CPU figures and targets stay."""
    results = bench[0]
    (tmp_path / "benchmarks.json").write_text(json.dumps(results))
    gpu = json.loads(json.dumps(results["sections"]["generation"]))
    gpu.update(
        dtype="bfloat16",
        bf16=None,
        device={
            "device": "cuda",
            "name": "Test GPU 80GB",
            "memory_bytes": 2**36,
            "multiprocessors": 132,
            "torch": "x",
            "cuda": "13.0",
        },
    )
    gpu["ways"]["stacked"]["speed_vs_base"] = 0.123
    (tmp_path / "gpu.json").write_text(json.dumps(gpu))
    done = _run("--out", str(tmp_path), "--add-section", f"generation@cuda/bfloat16={tmp_path / 'gpu.json'}")
    assert done.returncode == 0, done.stderr[-2000:]
    merged = json.loads((tmp_path / "benchmarks.json").read_text())
    assert merged["sections"]["generation"] == results["sections"]["generation"]
    assert merged["sections"]["generation@cuda/bfloat16"]["ways"]["stacked"]["speed_vs_base"] == 0.123
    assert [t["measured"] for t in merged["targets"]] == [t["measured"] for t in results["targets"]]
    doc = (tmp_path / "benchmarks.md").read_text()
    assert "## Generation on a GPU: Test GPU 80GB, bfloat16" in doc and "| GPU | Test GPU 80GB" in doc
    assert "0.12x" in doc.split("## Generation on a GPU")[1]

    (tmp_path / "benchmarks.md").unlink()
    assert _run("--out", str(tmp_path), "--render-only").returncode == 0
    assert (tmp_path / "benchmarks.md").read_text() == doc

    bad = _run("--out", str(tmp_path), "--add-section", "generation@cuda/bfloat16=/nonexistent.json")
    assert bad.returncode == 2 and "existing FILE" in bad.stderr


def test_bf16_generation_run_lands_under_its_own_key(tmp_path: Path) -> None:
    done = _run("--out", str(tmp_path), "--only", "generation", "--dtype", "bfloat16")
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    gen = results["sections"]["generation@cpu/bfloat16"]
    assert set(results["sections"]) == {"generation@cpu/bfloat16"} and results["targets"] == []
    assert gen["dtype"] == "bfloat16" and gen["bf16"] is None and gen["device"]["device"] == "cpu"
    assert gen["ways"]["stacked"]["seconds"] > 0 and gen["checks"]["base_bit_identical_after_merged_batches"]
    assert _run("--out", str(tmp_path), "--only", "memory", "--device", "cuda").returncode == 2
    assert _run("--out", str(tmp_path), "--dtype", "bfloat16").returncode == 2  # every section: no
