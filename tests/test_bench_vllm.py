"""The vLLM benchmark section's rendering (its measurement needs a real vLLM: benchmarks/bench_vllm.py)."""

from __future__ import annotations

from benchmarks.run import vllm_md

ROW = {
    "requests": 16,
    "seconds": 40.0,
    "tokens_per_s": 12.8,
    "latency_p50": 30.0,
    "latency_p99": 39.0,
    "ttft_p50": 5.0,
    "ttft_p99": 9.0,
}


def test_vllm_md_renders_rows_next_to_the_embedded_server() -> None:
    section = {
        "model": "smollm2",
        "max_new_tokens": 32,
        "load_average_before": [1.0],
        "load_average_after": [2.0],
        "vllm_mixed": ROW,
        "vllm_base": ROW,
        "front_mixed": {**ROW, "error": "0 of 512 tokens came back"},
    }
    embedded = {**ROW, "seconds": 10.0, "tokens_per_s": 51.2}
    batch = {**ROW, "ttft_p50": None, "ttft_p99": None}
    serving = {"ways": {"clients_16": embedded, "in_process_batch": batch}, "measured_at": "2026-12-03T08:31"}
    text = "\n".join(vllm_md(section, serving))
    assert "| vLLM, 16 concurrent clients, each naming its expert | 16 | 40.0 | 12.8 |" in text
    assert (
        "| `mole serve` (embedded), 16 clients (serving section, 2026-12-03T08:31) | 16 | 10.0 | 51.2 |"
        in text
    )
    assert (
        "| MoLE in-process batch (serving section, 2026-12-03T08:31) | 16 | 40.0 | 12.8 | 30.00 / 39.00 | - |"
        in text
    )
    assert "0.25x `mole serve`'s here" in text
    assert "| the same through `mole serve --engine-url` | failed: 0 of 512 tokens came back |" in text
    assert "one request at a time" not in text  # no row for a way not measured


def test_vllm_md_says_why_it_was_not_measured() -> None:
    assert "Not measured: no vLLM." in "\n".join(vllm_md({"skipped": "no vLLM"}, None))
    assert vllm_md(None, None) == []
