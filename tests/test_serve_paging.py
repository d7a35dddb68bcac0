"""``mole serve`` with a small adapter cache: requests over more experts than it holds get the eager
answers, a tampered adapter fails its own requests (one line, no path) while the others are served."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")

from serving import running  # noqa: E402
from test_runtime import KeywordRouter  # noqa: E402

from mole_core import Registry  # noqa: E402
from mole_core.runtime import MoLE  # noqa: E402
from mole_core.serve import Frontend, ServeSettings, create_app  # noqa: E402
from mole_core.serve.engine import EmbeddedEngine  # noqa: E402

KEY = "sk-paging-test"
EXPERTS = ["alpha", "beta", "gamma", "delta"]


@pytest.fixture
def four(tmp_path: Path, tiny_base: Path, adapter_factory) -> Registry:  # noqa: ANN001
    registry = Registry.init(tmp_path / "reg", base=str(tiny_base))
    for i, name in enumerate(EXPERTS):
        registry.add_expert(name, adapter_factory(rank=(2, 4)[i % 2], seed=40 + i))
    return registry


def serve(registry: Registry, cap: int):  # noqa: ANN201
    mole = MoLE.from_registry(registry.root, router=KeywordRouter(EXPERTS), max_loaded_experts=cap)
    config = ServeSettings(registry=registry.root, api_key=KEY, max_loaded_experts=cap, default_max_tokens=10)
    engine = EmbeddedEngine(mole, config)
    return create_app(config, engine, Frontend.from_mole(mole, config)), engine


def chat(client, model: str, query: str) -> str:  # noqa: ANN001
    response = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": query}], max_tokens=10, temperature=0
    )
    return response.choices[0].message.content


def test_concurrent_requests_over_more_experts_than_the_cache_get_eager_answers(four: Registry) -> None:
    reference = MoLE.from_registry(four.root, router=KeywordRouter(EXPERTS), max_loaded_experts="all")
    jobs = [(name, f"{name} question {i}") for i in range(3) for name in EXPERTS]
    expected = {job: reference.generate([job[1]], expert=job[0], max_new_tokens=10)[0].text for job in jobs}
    app, engine = serve(four, cap=2)
    with running(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)
        with ThreadPoolExecutor(len(jobs)) as pool:
            answers = dict(zip(jobs, pool.map(lambda job: chat(client, *job), jobs), strict=True))
    assert answers == expected
    stats = engine.mole.cache.snapshot()
    assert len(stats.loaded) <= 2 and stats.evictions > 0 and stats.pinned == []


def test_tampered_adapter_fails_its_requests_and_the_rest_are_served(four: Registry, tmp_path: Path) -> None:
    weights = four.root / "experts" / "gamma" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    reference = MoLE.from_registry(four.root, router=KeywordRouter(EXPERTS), max_loaded_experts=2)
    expected = [
        reference.generate([f"{n} hello"], expert=n, max_new_tokens=10)[0].text for n in ("alpha", "delta")
    ]
    app, engine = serve(four, cap=2)
    with running(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)
        with pytest.raises(openai.InternalServerError) as caught:
            chat(client, "gamma", "gamma hello")
        message = caught.value.body["message"] if isinstance(caught.value.body, dict) else str(caught.value)
        assert "could not be loaded" in message and str(four.root) not in message and "\n" not in message
        assert [chat(client, n, f"{n} hello") for n in ("alpha", "delta")] == expected
        assert "gamma" not in engine.mole.cache.loaded
    assert engine.mole.cache.snapshot().failed_loads >= 1


def test_serve_command_takes_the_option(cli, four: Registry) -> None:  # noqa: ANN001
    out = cli("serve", "--max-loaded-experts", "0", "--registry", str(four.root))
    assert out.exit_code == 2 and "max-loaded-experts" in out.output
