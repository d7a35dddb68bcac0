"""What the HTTP layer hands an engine, and what it gets back.

The app routes and frames every request itself (:mod:`mole_core.serve.front`), so every engine sees
the same :class:`GenerationRequest`: the expert (or blend) already chosen, the prompt already framed.
Two engines implement :class:`Backend`: the embedded continuous-batching engine
(:mod:`mole_core.serve.engine`) and a forwarder to an OpenAI-compatible multi-LoRA server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from .metrics import ServeMetrics


class GenerationRequest(BaseModel):
    """One request, routed and framed; engines need nothing else."""

    id: str
    kind: Literal["chat", "completion"]
    expert: str = Field(description="Who answers: an expert name, 'a+b' for a blend, or 'base'.")
    experts: dict[str, float] = Field(
        default_factory=dict, description="Expert -> blend weight ({} = the bare base, one name = 1.0)."
    )
    scores: dict[str, float] = Field(default_factory=dict, description="The router's probabilities.")
    messages: list[dict[str, str]] | None = Field(
        default=None,
        description="Chat: the conversation with the last user message framed by the expert's prompt "
        "template (what an engine that applies the chat template itself needs).",
    )
    prompt: str = Field(description="The exact text the model continues (chat template already applied).")
    prompt_ids: list[int] = Field(description="`prompt` tokenized with the base model's tokenizer.")
    max_tokens: int
    min_tokens: int = 0
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)

    @property
    def greedy(self) -> bool:
        """Temperatures this close to 0 are argmax (dividing logits by them would overflow)."""
        return self.temperature < 1e-5


class TokenEvent(BaseModel):
    """New text of one request; the last event of a request has ``finish_reason`` set."""

    text: str = ""
    finish_reason: Literal["stop", "length"] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class TokenStream(Protocol):
    """The events of one request. Closing it early (a client gone) frees the request's row."""

    def __aiter__(self) -> AsyncIterator[TokenEvent]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """An engine behind the app. ``generate`` raises a :class:`~mole_core.serve.errors.ServeError` (429
    queue full, 503 engine down, ...) *before* returning, so the client gets a proper status rather than
    a broken stream; errors after the first event end the stream."""

    async def start(self, metrics: ServeMetrics) -> None:
        """Start workers / connections; ``metrics`` is where the engine reports queue and batch sizes."""

    async def stop(self) -> None:
        """Finish or cancel what is running and release everything."""

    async def generate(self, request: GenerationRequest) -> TokenStream:
        """Admit ``request`` and return its event stream."""
        ...

    def health(self) -> dict[str, Any]:
        """A JSON-able status; ``{"status": "ok", ...}`` when the engine takes requests."""
        ...
