"""``mole serve --engine-url``: MoLE routing in front of an OpenAI-compatible multi-LoRA engine.

The engine here is a small fake (tests/fake_engine.py) on loopback that records what it receives; the
real-vLLM tier is tests/test_vllm_engine.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import httpx
import pytest
from engines import free_port
from fake_engine import BASE_NAME, answer_text, create_engine
from serving import running

from mole_core.routing import Router

pytest.importorskip("openai")


class KeywordRouter(Router):
    """Routes to the first expert whose name occurs in the query (else the last one)."""

    def predict(self, queries: Sequence[str]) -> list[list[float]]:
        rows = []
        for query in queries:
            hit = next((i for i, n in enumerate(self.labels) if n in query), len(self.labels) - 1)
            rows.append([0.9 if i == hit else 0.1 / (len(self.labels) - 1) for i in range(len(self.labels))])
        return rows

    def save(self, directory) -> None:  # noqa: ANN001
        raise NotImplementedError


TEMPLATE = "Question: {query}\nAnswer step by step:"


@pytest.fixture(scope="module")
def remote_registry(tmp_path_factory, tiny_base, adapter_factory):  # noqa: ANN001, ANN201
    from mole_core import Registry

    registry = Registry.init(tmp_path_factory.mktemp("remote") / "reg", base=str(tiny_base))
    registry.add_expert("math", adapter_factory(rank=4, seed=1), prompt_template=TEMPLATE)
    registry.add_expert("code", adapter_factory(rank=8, seed=2))
    return registry


@pytest.fixture(scope="module")
def engine():  # noqa: ANN201
    app = create_engine(["math", "code"], api_key="engine-secret")
    with running(app) as url:
        yield app, url + "/v1"


@pytest.fixture(autouse=True)
def _fresh_engine(engine) -> None:  # noqa: ANN001
    app, _ = engine
    app.state.received.clear()
    app.state.fail = None
    app.state.delay = 0.0
    app.state.cut = None


def front_app(registry, engine_url: str, **settings):  # noqa: ANN001, ANN201
    """The app ``mole serve --engine-url`` builds, with a keyword router instead of a trained one."""
    from mole_core.serve import Frontend, ServeSettings, create_app
    from mole_core.serve.remote import RemoteBackend

    settings = ServeSettings(
        registry=registry.root, engine_url=engine_url, engine_api_key="engine-secret", **settings
    )
    front = Frontend.from_registry(registry, settings)
    front.router = KeywordRouter(registry.load().names())
    return create_app(settings, RemoteBackend(settings), front)


@pytest.fixture
def front(remote_registry, engine):  # noqa: ANN001, ANN201
    with running(front_app(remote_registry, engine[1])) as front_url:
        yield front_url


def client(url: str):  # noqa: ANN201
    import openai

    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=30)


def test_auto_named_and_base_reach_the_engine_under_the_right_names(front, engine) -> None:
    app, _ = engine
    c = client(front)
    routed = c.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "code a loop"}], max_tokens=20
    )
    assert routed.model == "code" and app.state.received[-1]["model"] == "code"
    assert routed.choices[0].message.content == answer_text("code", "code a loop")
    mole = routed.model_extra["mole"]
    assert mole["expert"] == "code" and mole["scores"]["code"] == pytest.approx(0.9)
    named = c.chat.completions.create(
        model="math", messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    assert named.model == "math" and app.state.received[-1]["model"] == "math"
    base = c.completions.create(model="base", prompt="plain text", max_tokens=20)
    assert base.model == "base" and app.state.received[-1]["model"] == BASE_NAME
    assert app.state.received[-1]["prompt"] == "plain text"
    assert base.choices[0].text == answer_text(BASE_NAME, "plain text")


def test_prompts_are_framed_by_the_experts_template(front, engine) -> None:
    app, _ = engine
    c = client(front)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "what is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and math with 3+3?"},
    ]
    c.chat.completions.create(model="auto", messages=messages, max_tokens=30, temperature=0, seed=3)
    sent = app.state.received[-1]
    assert sent["model"] == "math"
    assert sent["messages"][:3] == messages[:3]  # only the last user message is framed
    assert sent["messages"][3] == {
        "role": "user",
        "content": TEMPLATE.replace("{query}", messages[3]["content"]),
    }
    assert (sent["temperature"], sent["seed"], sent["max_tokens"]) == (0, 3, 30)
    c.completions.create(model="math", prompt="1+1", max_tokens=5, stop=["\n"])
    sent = app.state.received[-1]
    assert sent["prompt"] == TEMPLATE.replace("{query}", "1+1") and sent["stop"] == ["\n"]


def test_streaming_is_passed_through_chunk_by_chunk(front, engine) -> None:
    app, _ = engine
    c = client(front)
    stream = c.chat.completions.create(
        model="code",
        messages=[{"role": "user", "content": "one two three"}],
        max_tokens=50,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    expected = answer_text("code", "one two three")
    assert "".join(pieces) == expected
    assert len(pieces) == len(expected.split(" "))  # one chunk per engine chunk, not one buffered answer
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == len(pieces) and chunks[-1].usage.prompt_tokens == 7
    assert app.state.received[-1]["stream"] is True


def test_length_finish_and_usage_come_from_the_engine(front) -> None:
    done = client(front).completions.create(model="code", prompt="a b c d e f", max_tokens=3)
    assert done.choices[0].finish_reason == "length"
    assert done.usage.completion_tokens == 3 and done.usage.prompt_tokens == 7


@pytest.mark.parametrize(
    ("status", "body", "want_status", "want"),
    [
        (400, {"error": {"message": "temperature is odd"}}, 400, "temperature is odd"),
        (400, {"error": {"message": "maximum context length is 2048"}}, 400, "context length"),
        (401, {"error": {"message": "nope"}}, 502, "credentials"),
        (429, {"error": {"message": "slow down"}}, 429, "busy"),
        (500, {"detail": "CUDA out of memory"}, 502, "CUDA out of memory"),
        (503, "starting up", 503, "unavailable"),
    ],
)
def test_engine_errors_become_openai_errors(front, engine, status, body, want_status, want) -> None:
    app, _ = engine
    app.state.fail = (status, body)
    response = httpx.post(
        front + "/v1/chat/completions",
        json={"model": "math", "messages": [{"role": "user", "content": "x"}], "max_tokens": 4},
        timeout=30,
    )
    assert response.status_code == want_status
    error = response.json()["error"]
    assert want in error["message"] and set(error) >= {"message", "type", "code"}
    assert "engine-secret" not in response.text


def test_a_stream_that_just_stops_is_an_error_not_an_answer(front, engine) -> None:
    engine[0].state.cut = 2  # the engine dies after two words: no finish_reason, no [DONE]
    body = {"model": "code", "prompt": "a b c d", "max_tokens": 20}
    whole = httpx.post(front + "/v1/completions", json=body, timeout=30)
    assert whole.status_code == 502 and "ended before the answer" in whole.json()["error"]["message"]
    with httpx.stream("POST", front + "/v1/completions", json={**body, "stream": True}, timeout=30) as r:
        events = [line for line in r.iter_lines() if line.startswith("data:")]
    assert '"error"' in events[-1] and "ended before the answer" in events[-1]


def test_an_expert_the_engine_lacks_is_a_clear_502(remote_registry, engine) -> None:
    _, url = engine
    other = create_engine(["code"])  # launched without "math"
    with (
        running(other) as other_url,
        running(front_app(remote_registry, other_url + "/v1")) as f,
    ):
        response = httpx.post(
            f + "/v1/completions", json={"model": "math", "prompt": "x", "max_tokens": 2}, timeout=30
        )
    assert response.status_code == 502
    assert "does not serve 'math'" in response.json()["error"]["message"]


def test_engine_down_is_503_and_health_says_so(remote_registry) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with running(front_app(remote_registry, dead)) as f:
        response = httpx.post(
            f + "/v1/chat/completions",
            json={"model": "code", "messages": [{"role": "user", "content": "x"}]},
            timeout=30,
        )
        health = httpx.get(f + "/health", timeout=10).json()
        models = httpx.get(f + "/v1/models", timeout=10).json()  # the front still lists the registry
    assert response.status_code == 503
    assert (
        response.json()["error"]["code"] == "engine_unavailable"
        and dead in response.json()["error"]["message"]
    )
    assert health["status"] == "unavailable" and health["engine"] == dead
    assert {m["id"] for m in models["data"]} == {"auto", "base", "math", "code"}


def test_engine_timeout_is_bounded(remote_registry, engine) -> None:
    app, url = engine
    app.state.delay = 3.0
    try:
        with running(front_app(remote_registry, url, engine_timeout=0.5)) as f:
            started = time.monotonic()
            response = httpx.post(
                f + "/v1/completions", json={"model": "code", "prompt": "x", "max_tokens": 2}, timeout=30
            )
            took = time.monotonic() - started
    finally:
        app.state.delay = 0.0
    assert response.status_code == 504 and response.json()["error"]["code"] == "engine_timeout"
    assert took < 2.5


def test_client_disconnect_closes_the_engine_stream(front, engine) -> None:
    app, _ = engine
    app.state.delay = 0.2
    closed = app.state.closed
    body = {"model": "code", "prompt": " ".join(["w"] * 40), "max_tokens": 40, "stream": True}
    with httpx.stream("POST", front + "/v1/completions", json=body, timeout=30) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
    deadline = time.monotonic() + 10
    while app.state.closed == closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app.state.closed == closed + 1  # the engine's generator ended long before its 40 words
    app.state.delay = 0.0
    metrics = httpx.get(front + "/metrics", timeout=10).text
    assert "mole_running_requests 0.0" in metrics
    assert client(front).completions.create(model="code", prompt="still up", max_tokens=9).choices[0].text


def test_in_flight_limit_gives_429(remote_registry, engine) -> None:
    app, url = engine
    app.state.delay = 0.5
    results: list[int] = []

    def call(f: str) -> None:
        body = {"model": "code", "prompt": "a b c", "max_tokens": 3}
        results.append(httpx.post(f + "/v1/completions", json=body, timeout=30).status_code)

    try:
        with running(front_app(remote_registry, url, max_batch_size=1, max_queue=0)) as f:
            threads = [threading.Thread(target=call, args=(f,)) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        app.state.delay = 0.0
    assert sorted(results) == [200, 429, 429]


def test_blending_is_refused_with_a_remote_engine(front) -> None:
    body = {"model": "auto", "prompt": "math", "max_tokens": 2, "mole_top_k": 2}
    response = httpx.post(front + "/v1/completions", json=body, timeout=30)
    assert response.status_code == 400 and "embedded engine" in response.json()["error"]["message"]


def test_the_engine_key_is_sent_and_never_shown(front, engine) -> None:
    health = httpx.get(front + "/health", timeout=10)
    assert health.json()["status"] == "ok" and "engine-secret" not in health.text
    engine[0].state.fail = None
    assert client(front).completions.create(model="code", prompt="x", max_tokens=2).choices[0].text


def test_engine_model_template_for_sglang_style_names(remote_registry, engine) -> None:
    app, url = engine
    with running(front_app(remote_registry, url, engine_model="{base}:{expert}")) as f:
        routed = client(f).completions.create(model="auto", prompt="code it", max_tokens=9)
        base = client(f).completions.create(model="base", prompt="plain", max_tokens=9)
    assert routed.model == "code" and app.state.received[0]["model"] == f"{BASE_NAME}:code"
    assert base.model == "base" and app.state.received[1]["model"] == BASE_NAME


def test_settings_refuse_a_url_without_scheme() -> None:
    from pydantic import ValidationError

    from mole_core.serve import ServeSettings

    with pytest.raises(ValidationError, match="http://"):
        ServeSettings(engine_url="localhost:8001/v1")
    with pytest.raises(ValidationError, match="expert"):
        ServeSettings(engine_url="http://h/v1", engine_model="{base}")


def test_cli_loads_no_base_weights(remote_registry, engine, mole, tmp_path) -> None:
    """`mole serve --engine-url` builds a front with the tokenizer and router only."""
    from mole_core import Registry
    from mole_core.serve import ServeSettings, build_app

    one = tmp_path / "one"
    reg = Registry.init(one, base=remote_registry.load().base.id)
    reg.add_expert("code", remote_registry.expert_dir("code"))
    app = build_app(ServeSettings(registry=one, engine_url=engine[1]))
    assert type(app.state.backend).__name__ == "RemoteBackend"
    assert not hasattr(app.state.front, "model")
    result = mole("serve", "--registry", str(one), "--engine-url", "localhost:1")
    assert result.returncode != 0 and "engine_url" in result.stderr and "Traceback" not in result.stderr
