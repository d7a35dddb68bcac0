"""vLLM serving the paper's four experts, measured from a client: the row beside MoLE's own server.

The registry is the generation section's (four random adapters of ranks 64/32/16/8 on all seven
projections); vLLM is started from `mole export vllm`, so it serves exactly what MoLE would. Timed with
the load client of :mod:`benchmarks.serving_client` (16 streaming greedy chat requests over the four
experts, 32 new tokens each, the paper's 16 queries interleaved):

- ``vllm_mixed``: the 16 requests at once, each naming its expert (``model=<expert>``);
- ``vllm_base``: the same 16 on the bare base model (vLLM's limit on this machine);
- ``vllm_sequential``: 4 of them one at a time (one per expert);
- ``front_mixed``: the 16 through ``mole serve --engine-url`` (routing skipped: each names its expert),
  which is what the front-end adds. The front does not forward vLLM's ``ignore_eos``, so answers that
  end early make fewer tokens there: compare its latency, and its token count in the JSON.

Needs a python that imports vLLM (``MOLE_VLLM_PYTHON``, or this one); without it the section records
why it was skipped. Each figure is one measurement after a warm-up request per expert.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from . import ROOT, Context, base_source, section_main
from .bench_adapters import interleaved_queries, paper_registry
from .serving_client import measure

log = logging.getLogger("benchmarks.vllm")
TOKENS = 32
READY_TIMEOUT_S = 900


def run_vllm(context: Context) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from engines import mole_front, vllm_engine, vllm_python  # the test tier's launcher: one definition

    python = vllm_python()
    if python is None:
        return {"skipped": "vLLM is not importable; set MOLE_VLLM_PYTHON to a vLLM environment's python"}
    source = base_source(context.scale.gen_model, context.work)
    registry = paper_registry(context, "vllm-registry", source)
    jobs = [(expert, query) for query, expert in interleaved_queries()]
    figures: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    with vllm_engine(registry.root, python, context.work / "vllm.log", READY_TIMEOUT_S) as (data, url):
        base_name = data["served_model_name"]
        measure(url + "/v1", [(e, "Hello") for e in dict(jobs)], concurrency=4, max_tokens=4)  # warm-up
        log.info("vLLM ready; timing 16 mixed requests")
        exact = {"ignore_eos": True}  # exactly 32 tokens per answer, as the generation section times
        figures["vllm_mixed"] = measure(url + "/v1", jobs, concurrency=16, max_tokens=TOKENS, extra=exact)
        base_jobs = [(base_name, q) for _, q in jobs]
        figures["vllm_base"] = measure(url + "/v1", base_jobs, concurrency=16, max_tokens=TOKENS, extra=exact)
        one_each = list(dict((e, (e, q)) for e, q in jobs).values())
        figures["vllm_sequential"] = measure(
            url + "/v1", one_each, concurrency=1, max_tokens=TOKENS, extra=exact
        )
        with mole_front(registry.root, url, context.work / "front.log") as front:
            measure(front + "/v1", jobs[:4], concurrency=4, max_tokens=4)  # warm-up
            figures["front_mixed"] = measure(front + "/v1", jobs, concurrency=16, max_tokens=TOKENS)
    for value in figures.values():
        if isinstance(value, dict):
            value.pop("texts", None)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    figures["vllm_threads"] = omp_binding(context.work / "vllm.log")
    figures["vllm_launch"] = {k: data[k] for k in ("max_lora_rank", "max_loras", "max_cpu_loras")}
    figures["model"] = context.scale.gen_model
    return figures


def omp_binding(log_path: Any) -> str:
    """What vLLM's CPU backend says it bound its OpenMP threads to (e.g. "core ids=[0]")."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "core ids=" in line:
            return line.split("]", 1)[-1].strip()
    return "not reported"


if __name__ == "__main__":
    section_main(run_vllm)
