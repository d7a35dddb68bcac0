"""vLLM serving the paper's four experts, measured from a client: the row beside MoLE's own server.

The registry is the generation section's (four random adapters of ranks 64/32/16/8 on all seven
projections); vLLM is started from `mole export vllm`, so it serves exactly what MoLE would. Timed with
the serving section's client (:func:`benchmarks.bench_serving.drive`: streaming greedy chat requests,
exactly 32 new tokens each through ``min_tokens``, the paper's 16 queries over the four experts):

- ``vllm_mixed``: the 16 requests at once, each naming its expert (``model=<expert>``);
- ``vllm_base``: the same 16 on the bare base model (vLLM's limit on this machine);
- ``vllm_sequential``: 4 of them one at a time (one per expert);
- ``front_mixed``: the 16 through ``mole serve --engine-url`` (routing skipped: each names its expert),
  which is what the front-end adds.

Needs a python that imports vLLM (``MOLE_VLLM_PYTHON``, or this one); without it the section records
why it was skipped. Each figure is one measurement after a warm-up request per expert.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from . import ROOT, Context, base_source, section_main
from .bench_adapters import interleaved_queries, paper_registry
from .bench_serving import drive, summarise_way

log = logging.getLogger("benchmarks.vllm")
READY_TIMEOUT_S = 900


def timed(url: str, jobs: list[tuple[str, str]], clients: int, tokens: int) -> dict[str, Any]:
    """One measurement with the serving section's client: exactly ``tokens`` per answer (``min_tokens``).
    Answers cut short (an error event mid-stream) make it a failed measurement, not a fast one."""
    summary = summarise_way([asyncio.run(drive(url, jobs, clients, tokens))])
    if summary["tokens"] < len(jobs) * tokens:
        summary["error"] = f"{summary['tokens']} of {len(jobs) * tokens} tokens came back"
    return summary


def run_vllm(context: Context) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from engines import mole_front, vllm_engine, vllm_python  # the test tier's launcher: one definition

    python = vllm_python()
    if python is None:
        return {"skipped": "vLLM is not importable; set MOLE_VLLM_PYTHON to a vLLM environment's python"}
    source = base_source(context.scale.gen_model, context.work)
    registry = paper_registry(context, "vllm-registry", source)
    jobs = [(expert, query) for query, expert in interleaved_queries()]
    n = context.scale.max_new_tokens
    figures: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with vllm_engine(registry.root, python, context.work / "vllm.log", READY_TIMEOUT_S) as (data, url):
        asyncio.run(drive(url + "/v1", [(e, "Hello") for e in dict(jobs)], 4, 4))  # warm-up: every adapter
        log.info("vLLM ready; timing 16 mixed requests")
        figures["vllm_mixed"] = timed(url + "/v1", jobs, 16, n)
        figures["vllm_base"] = timed(url + "/v1", [(data["served_model_name"], q) for _, q in jobs], 16, n)
        figures["vllm_sequential"] = timed(url + "/v1", list({e: (e, q) for e, q in jobs}.values()), 1, n)
        with mole_front(registry.root, url, context.work / "front.log") as front:
            asyncio.run(drive(front + "/v1", jobs[:4], 4, 4))  # warm-up
            figures["front_mixed"] = timed(front + "/v1", jobs, 16, n)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["vllm_threads"] = omp_binding(context.work / "vllm.log")
    figures["vllm_launch"] = {k: data[k] for k in ("max_lora_rank", "max_loras", "max_cpu_loras")}
    figures["model"] = context.scale.gen_model
    figures["max_new_tokens"] = n
    return figures


def omp_binding(log_path: Any) -> str:
    """What vLLM's CPU backend says it bound its OpenMP threads to (e.g. "core ids=[0]")."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "core ids=" in line:
            return line.split("]", 1)[-1].strip()
    return "not reported"


if __name__ == "__main__":
    section_main(run_vllm)
