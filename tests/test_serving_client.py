"""The serving benchmark's load client and the vLLM section's rendering, against the fake engine."""

from __future__ import annotations

from fake_engine import answer_text, create_engine
from serving import running

from benchmarks.run import vllm_md
from benchmarks.serving_client import measure


def test_measure_counts_tokens_latency_and_errors() -> None:
    app = create_engine(["a", "b"])
    app.state.delay = 0.01
    with running(app) as url:
        jobs = [("a", "one two three"), ("b", "four five"), ("missing", "x")]
        result = measure(url + "/v1", jobs, concurrency=2, max_tokens=50, extra={"ignore_eos": True})
    assert result["requests"] == 3 and result["error_count"] == 1 and "404" in result["errors"][0]
    assert result["texts"][:2] == [answer_text("a", "one two three"), answer_text("b", "four five")]
    words = sum(len(answer_text(m, q).split(" ")) for m, q in jobs[:2])
    assert result["completion_tokens"] == words  # the engine's usage, not a guess
    assert 0 < result["ttft_p50"] <= result["latency_p50"] <= result["latency_p99"] <= result["seconds"]
    assert all(body["ignore_eos"] is True and body["temperature"] == 0 for body in app.state.received)


def test_vllm_md_renders_rows_and_the_comparison() -> None:
    row = {
        "requests": 16,
        "seconds": 40.0,
        "tokens_per_s": 12.8,
        "latency_p50": 30.0,
        "latency_p99": 39.0,
        "ttft_p50": 5.0,
        "ttft_p99": 9.0,
    }
    section = {
        "model": "smollm2",
        "load_average_before": [1.0],
        "load_average_after": [2.0],
        "vllm_mixed": row,
        "vllm_base": row,
    }
    generation = {"ways": {"stacked": {"seconds": 8.0, "tokens_per_s": 64.0}}, "measured_at": "2026-12-03"}
    text = "\n".join(vllm_md(section, generation))
    assert "| vLLM, 16 concurrent, each naming its expert | 16 | 40.0 | 12.8 |" in text
    assert "0.20x MoLE's in-process batch" in text
    assert "Not measured: no vLLM" in "\n".join(vllm_md({"skipped": "no vLLM"}, None))
    assert vllm_md(None, None) == []
