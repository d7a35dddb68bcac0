"""``mole serve`` on loopback, driven by the official ``openai`` client (tiny Llama, CPU).

One server (embedded engine, API key) serves most tests; a second one with one batch row and no
queue shows 429, a client leaving mid-stream (its row freed), and an engine failure that the server
survives. Expected answers come from a separate ``MoLE`` runtime's ``generate`` on the same registry.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from serving import metric, running, wait_for  # noqa: E402
from test_runtime import KeywordRouter  # noqa: E402

from mole_core import Registry  # noqa: E402
from mole_core.runtime import MoLE  # noqa: E402
from mole_core.serve import Frontend, ServeSettings, create_app  # noqa: E402
from mole_core.serve.engine import EmbeddedEngine  # noqa: E402
from mole_core.specs import frame  # noqa: E402

KEY = "sk-test-7f3a"
TEMPLATE = "Question: {query}\nAnswer:"
EXPERTS = ["alpha", "beta", "gamma", "delta"]
QUERIES = ["alpha: add two numbers", "beta, tell me a fact", "gamma why?", "delta: the capital of France"]


@pytest.fixture(scope="module")
def serve_registry(tmp_path_factory: pytest.TempPathFactory, tiny_base: Path, adapter_factory) -> Registry:
    registry = Registry.init(tmp_path_factory.mktemp("serve") / "reg", base=str(tiny_base))
    for (name, rank), seed in zip(
        (("alpha", 8), ("beta", 4), ("gamma", 2), ("delta", 4)), range(1, 5), strict=True
    ):
        registry.add_expert(
            name, adapter_factory(rank=rank, seed=seed), prompt_template=TEMPLATE if name == "delta" else None
        )
    return registry


def _runtime(registry: Registry) -> MoLE:
    return MoLE.from_registry(registry.root, router=KeywordRouter(EXPERTS))


def _app(registry: Registry, **settings):  # noqa: ANN202
    mole = _runtime(registry)
    config = ServeSettings(registry=registry.root, api_key=KEY, **settings)
    engine = EmbeddedEngine(mole, config)
    return create_app(config, engine, Frontend.from_mole(mole, config)), engine


@pytest.fixture(scope="module")
def reference(serve_registry: Registry) -> MoLE:
    """A runtime of its own (the server's belongs to its engine thread) for expected answers."""
    return _runtime(serve_registry)


@pytest.fixture(scope="module")
def url(serve_registry: Registry):  # noqa: ANN201
    app, _ = _app(serve_registry, max_tokens_limit=1000, max_request_bytes=64 * 1024, default_max_tokens=16)
    with running(app) as base_url:
        yield base_url


@pytest.fixture
def client(url: str):  # noqa: ANN201
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)


def _chat(client, model: str, query: str, **kw):  # noqa: ANN001, ANN202
    kw.setdefault("max_tokens", 12)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": query}], **kw)


def _raw_generate(mole: MoLE, text: str, adapter: str | None, *, special: bool, n: int = 12) -> str:
    """Greedy continuation of exactly ``text`` (no framing added), as MoLE.generate decodes it."""
    import torch

    batch = mole.tokenizer([text], return_tensors="pt", add_special_tokens=special)
    with torch.inference_mode(), mole.rows([adapter]) as extra:
        out = mole.model.generate(
            **batch, **extra, max_new_tokens=n, do_sample=False, pad_token_id=mole.tokenizer.pad_token_id
        )
    new = out[0, batch["input_ids"].shape[1] :].tolist()
    stop = {mole.tokenizer.eos_token_id, mole.tokenizer.pad_token_id}
    new = new[: next((i for i, t in enumerate(new) if t in stop), len(new))]
    return mole.tokenizer.decode(new, skip_special_tokens=True).strip()


# -- models, answers -------------------------------------------------------------------------------------
def test_models_list_every_expert_with_the_base_as_parent(client, serve_registry: Registry) -> None:
    models = client.models.list().data
    assert [m.id for m in models] == ["auto", "base", *EXPERTS]
    base = serve_registry.load().base.id
    assert all(m.model_extra["parent"] == base for m in models if m.id in EXPERTS)
    assert client.models.retrieve("gamma").id == "gamma"


@pytest.mark.parametrize("model", ["auto", "beta", "delta", "base"])
@pytest.mark.parametrize("query", QUERIES[:3])
def test_greedy_chat_equals_generate(client, reference: MoLE, model: str, query: str) -> None:
    expected = reference.generate([query], expert=None if model == "auto" else model, max_new_tokens=12)[0]
    response = _chat(client, model, query)
    assert response.choices[0].message.content == expected.text
    assert response.model == expected.expert
    assert response.usage.completion_tokens == expected.new_tokens
    assert (
        response.usage.total_tokens
        == response.usage.prompt_tokens + expected.new_tokens
        > expected.new_tokens
    )
    info = response.model_extra["mole"]
    assert info["expert"] == expected.expert and (bool(info["scores"]) == (model == "auto"))


def test_multi_turn_routes_the_last_user_message_and_templates_the_whole_conversation(
    client, reference: MoLE
) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "alpha first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "now delta please"},
    ]
    response = client.chat.completions.create(model="auto", messages=messages, max_tokens=12, temperature=0)
    assert response.model == "delta"
    framed = [*messages[:3], {"role": "user", "content": frame(TEMPLATE, "now delta please")}]
    text = reference.tokenizer.apply_chat_template(framed, add_generation_prompt=True, tokenize=False)
    assert response.choices[0].message.content == _raw_generate(reference, text, "delta", special=False)


def test_completions_frame_the_prompt_with_the_experts_template(client, reference: MoLE) -> None:
    response = client.completions.create(
        model="delta", prompt="the capital of France", max_tokens=12, temperature=0
    )
    expected = _raw_generate(reference, frame(TEMPLATE, "the capital of France"), "delta", special=True)
    assert response.choices[0].text == expected
    assert response.model == "delta" and response.object == "text_completion"
    routed = client.completions.create(model="auto", prompt="gamma why?", max_tokens=4, temperature=0)
    assert routed.model == "gamma"


def test_top_k_blend_extension(client, reference: MoLE) -> None:
    query = "alpha and beta together"
    expected = reference.generate([query], top_k=2, max_new_tokens=12)[0]
    response = _chat(client, "auto", query, extra_body={"mole_top_k": 2})
    assert response.model == expected.expert and "+" in response.model
    assert response.model_extra["mole"]["experts"] == expected.experts
    assert response.choices[0].message.content == expected.text


# -- streaming ---------------------------------------------------------------------------------------------
def test_streamed_chunks_add_up_to_the_full_answer(client) -> None:
    for model in ("alpha", "delta", "base"):
        full = _chat(client, model, QUERIES[3], max_tokens=16).choices[0].message.content
        chunks = list(_chat(client, model, QUERIES[3], max_tokens=16, stream=True))
        assert chunks[0].choices[0].delta.role == "assistant"
        assert chunks[0].model_extra["mole"]["expert"] == model
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == full
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        assert all(c.model == model for c in chunks)


def test_raw_sse_ends_with_done_and_can_carry_usage(url: str) -> None:
    body = {
        "model": "gamma",
        "prompt": "gamma why?",
        "max_tokens": 5,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = httpx.post(f"{url}/v1/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 5


def test_sampling_is_reproducible_with_a_seed(client) -> None:
    def sample(seed: int) -> str:
        return (
            _chat(client, "beta", QUERIES[1], temperature=1.0, top_p=0.9, seed=seed, max_tokens=16)
            .choices[0]
            .message.content
        )

    assert sample(7) == sample(7)
    assert len({sample(s) for s in range(5)}) > 1
    # odd but valid values neither fail the request nor the batch
    greedy = _chat(client, "beta", QUERIES[1], max_tokens=16).choices[0].message.content
    assert (
        _chat(client, "beta", QUERIES[1], max_tokens=16, temperature=1e-9).choices[0].message.content
        == greedy
    )
    assert sample(-3) is not None and sample(2**70) is not None


def test_min_tokens_extension_makes_exactly_that_many_tokens(client) -> None:
    for model in ("beta", "base"):
        response = _chat(client, model, QUERIES[1], max_tokens=20, extra_body={"min_tokens": 20})
        assert response.usage.completion_tokens == 20 and response.choices[0].finish_reason == "length"


def test_stop_strings_end_the_answer_before_them(client, reference: MoLE) -> None:
    text = next(
        t
        for t in (reference.generate([q], expert="alpha", max_new_tokens=24)[0].text for q in QUERIES)
        if len(t) >= 6
    )
    stop = text[3:5]
    response = _chat(client, "alpha", next(q for q in QUERIES), max_tokens=24, stop=[stop])
    full = _chat(client, "alpha", QUERIES[0], max_tokens=24).choices[0].message.content
    assert stop not in response.choices[0].message.content
    if stop in full:
        assert response.choices[0].finish_reason == "stop"
        assert response.choices[0].message.content == full[: full.index(stop)].rstrip()
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in _chat(client, "alpha", QUERIES[0], max_tokens=24, stop=[stop], stream=True)
    )
    assert streamed == response.choices[0].message.content


# -- batching ----------------------------------------------------------------------------------------------
def test_concurrent_requests_share_decode_steps_and_keep_their_answers(
    client, reference: MoLE, url: str
) -> None:
    jobs = [(model, query) for model in ("auto", "alpha", "gamma", "base") for query in QUERIES]
    expected = {
        job: reference.generate([job[1]], expert=None if job[0] == "auto" else job[0], max_new_tokens=20)[
            0
        ].text
        for job in jobs
    }
    multi_before = metric(url, "mole_batch_size_count") - metric(url, 'mole_batch_size_bucket{le="1.0"}')
    barrier = threading.Barrier(len(jobs))

    def ask(job: tuple[str, str]) -> str:
        barrier.wait()
        return _chat(client, job[0], job[1], max_tokens=20).choices[0].message.content

    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = dict(zip(jobs, pool.map(ask, jobs), strict=True))
    assert answers == expected
    multi_after = metric(url, "mole_batch_size_count") - metric(url, 'mole_batch_size_bucket{le="1.0"}')
    assert multi_after > multi_before, "no decode step ran more than one row"
    assert metric(url, 'mole_expert_requests_total{expert="gamma"}') >= len(QUERIES)


# -- auth and errors ---------------------------------------------------------------------------------------
def test_api_key_is_required_and_never_echoed(url: str) -> None:
    for key in ("wrong-key", KEY[:-1]):
        bad = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.models.list()
        assert info.value.status_code == 401 and key not in str(info.value.body)
    missing = httpx.get(f"{url}/v1/models")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


def _post(url: str, path: str, **kw) -> httpx.Response:
    return httpx.post(
        f"{url}{path}", headers={"Authorization": f"Bearer {KEY}", **kw.pop("headers", {})}, **kw
    )


CHAT = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_request"),
        (b"[1, 2]", 400, "invalid_request"),
        ({"model": "alpha"}, 400, "invalid_request"),
        ({**CHAT, "n": 2}, 400, "invalid_request"),
        ({**CHAT, "temperature": 5}, 400, "invalid_request"),
        ({**CHAT, "logprobs": True}, 400, "invalid_request"),
        ({**CHAT, "messages": [{"role": "user", "content": "  "}]}, 400, "invalid_request"),
        ({**CHAT, "mole_top_k": 2}, 400, "invalid_request"),
        ({**CHAT, "max_tokens": 1001}, 400, "invalid_request"),
        ({**CHAT, "max_tokens": 900}, 400, "context_length_exceeded"),
        ({**CHAT, "messages": [{"role": "user", "content": "word " * 400}]}, 400, "context_length_exceeded"),
        ({**CHAT, "max_tokens": 5, "min_tokens": 6}, 400, "invalid_request"),
        ({**CHAT, "model": "nobody"}, 404, "model_not_found"),
        ({**CHAT, "messages": [{"role": "user", "content": "x" * 70_000}]}, 413, "request_too_large"),
    ],
)
def test_bad_requests_get_openai_errors_and_the_server_stays_up(
    url: str, body, status: int, code: str
) -> None:
    kw = (
        {"content": body, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body}
    )
    response = _post(url, "/v1/chat/completions", **kw)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["type"]
    assert "Traceback" not in response.text and "\n" not in error["message"]
    assert _post(url, "/v1/chat/completions", json={**CHAT, "max_tokens": 2}).status_code == 200


def test_openai_client_sees_typed_errors(client, url: str) -> None:
    with pytest.raises(openai.NotFoundError):
        _chat(client, "nobody", "hi")
    with pytest.raises(openai.BadRequestError) as info:
        _chat(client, "alpha", "hi", n=2)
    assert "n=1" in info.value.message
    nowhere = httpx.get(f"{url}/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"


# -- limits: queue full, disconnects, engine failure (one row, no queue) ---------------------------------
@pytest.fixture(scope="module")
def narrow(serve_registry: Registry):  # noqa: ANN201
    """A server with one batch row and no queue, its steps slowed so a request stays in flight."""
    import time

    app, engine = _app(serve_registry, max_batch_size=1, max_queue=0, default_max_tokens=8)
    step = engine.batch.step

    def slow_step() -> None:
        time.sleep(0.02)
        step()

    engine.batch.step = slow_step
    with running(app) as base_url:
        yield base_url, engine


def _long_stream(url: str):  # noqa: ANN202
    body = {**CHAT, "max_tokens": 200, "min_tokens": 200, "stream": True, "temperature": 0}
    return httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    )


def test_queue_full_is_429_and_a_client_leaving_mid_stream_frees_its_row(narrow) -> None:
    url, _ = narrow
    abandoned = metric(url, "mole_abandoned_rows_total")
    with _long_stream(url) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: ")  # running now, holding the only row
        busy = _post(url, "/v1/chat/completions", json=CHAT)
        assert busy.status_code == 429 and busy.json()["error"]["type"] == "rate_limit_error"
    # the client has gone mid-stream: its row is freed long before 200 tokens
    assert wait_for(lambda: metric(url, "mole_abandoned_rows_total") == abandoned + 1)
    assert wait_for(lambda: httpx.get(f"{url}/health").json()["running"] == 0)
    assert _post(url, "/v1/chat/completions", json={**CHAT, "max_tokens": 3}).status_code == 200


def test_a_client_leaving_before_a_full_answer_frees_its_row(narrow) -> None:
    url, _ = narrow
    abandoned = metric(url, "mole_abandoned_rows_total")
    with pytest.raises(httpx.ReadTimeout):
        _post(
            url,
            "/v1/chat/completions",
            json={**CHAT, "max_tokens": 200, "min_tokens": 200, "temperature": 0},
            timeout=0.5,
        )
    assert wait_for(lambda: metric(url, "mole_abandoned_rows_total") == abandoned + 1)
    assert wait_for(lambda: httpx.get(f"{url}/health").json()["running"] == 0)


def test_an_engine_failure_fails_its_requests_not_the_server(narrow, monkeypatch: pytest.MonkeyPatch) -> None:
    url, engine = narrow

    def broken() -> None:
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(engine.batch, "step", broken)
    response = _post(url, "/v1/chat/completions", json=CHAT)
    assert response.status_code == 500 and "simulated" not in response.text
    assert response.json()["error"]["type"] == "server_error"
    monkeypatch.undo()
    assert _post(url, "/v1/chat/completions", json={**CHAT, "max_tokens": 3}).status_code == 200


# -- the command -------------------------------------------------------------------------------------------
def test_mole_serve_command_builds_a_server_from_the_registry(
    cli, tmp_path: Path, tiny_base: Path, adapter_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mole serve` parses (key from MOLE_API_KEY), builds the app from the registry and hands it to
    uvicorn; that app then serves: one expert, so auto routes to it."""
    import uvicorn

    registry = Registry.init(tmp_path / "reg", base=str(tiny_base))
    registry.add_expert("solo", adapter_factory(rank=4, seed=9))
    launched = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: launched.update(app=app, **kw))
    monkeypatch.setenv("MOLE_API_KEY", KEY)
    result = cli("serve", "--registry", str(registry.root), "--port", "8123", "--max-batch-size", "4")
    assert result.exit_code == 0 and KEY not in result.output
    assert (launched["host"], launched["port"]) == ("127.0.0.1", 8123)
    assert launched["app"].state.settings.max_batch_size == 4
    with running(launched["app"]) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["auto", "base", "solo"]
        assert _chat(client, "auto", "anything", max_tokens=3).model == "solo"
        assert httpx.get(f"{url}/v1/models").status_code == 401


def test_mole_serve_refuses_bad_settings(cli, tmp_path: Path) -> None:
    result = cli(
        "serve",
        "--registry",
        str(tmp_path / "none"),
        "--default-max-tokens",
        "50",
        "--max-tokens-limit",
        "10",
    )
    assert result.exit_code != 0 and "max_tokens" in result.output and "Traceback" not in result.output
