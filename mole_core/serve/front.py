"""Routing and prompt framing, done once in front of any engine.

:class:`Frontend` turns an OpenAI request into a :class:`GenerationRequest`: it resolves ``model``
(``auto`` routes the last user message, an expert name forces it, ``base`` is the bare model), frames
that message with the expert's prompt template and formats the whole conversation with the base
tokenizer's chat template, exactly as :meth:`MoLE.prompts` does for one query, so the embedded
engine and a remote one (which gets the same text) answer what ``mole generate`` answers.
It needs the router and the tokenizer, never the base model's weights.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import anyio

from ..blending import route_weights, template_for
from ..manifest import Manifest
from ..registry import Registry
from ..routing import BASE, Router
from ..specs import frame
from .backend import GenerationRequest
from .errors import BadRequest, ContextTooLong, ModelNotFound
from .schemas import ChatCompletionRequest, CompletionRequest, ModelCard
from .settings import ServeSettings

AUTO = "auto"


class Frontend:
    """The registry's view for the HTTP layer: model list, routing, framing, token counts."""

    def __init__(
        self,
        manifest: Manifest,
        router: Router | None,
        tokenizer: Any,
        *,
        context_length: int,
        settings: ServeSettings,
    ) -> None:
        self.manifest = manifest
        self.router = router
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.settings = settings
        self.created = int(time.time())
        # fast tokenizers and routers are not safe to call from several threads at once
        self._lock = threading.Lock()

    @classmethod
    def from_mole(cls, mole: Any, settings: ServeSettings) -> Frontend:
        """The front of an embedded engine: the loaded runtime's manifest, router and tokenizer."""
        from ..runtime import context_length

        return cls(
            mole.manifest,
            mole._router,
            mole.tokenizer,
            context_length=context_length(mole.model),
            settings=settings,
        )

    @classmethod
    def from_registry(cls, registry: Registry, settings: ServeSettings) -> Frontend:
        """A front without the base model (for a remote engine): router, tokenizer and config only."""
        from transformers import AutoConfig

        from .. import basemodel
        from ..routing import load_router

        manifest = registry.load()
        source = basemodel.resolve_source(manifest.base)
        tokenizer = basemodel.load_tokenizer(manifest.base, source)
        config = AutoConfig.from_pretrained(source)
        router = load_router(registry, manifest) if manifest.experts else None
        length = int(getattr(config, "max_position_embeddings", 0) or 2048)
        return cls(manifest, router, tokenizer, context_length=length, settings=settings)

    # -- models ---------------------------------------------------------------------------------------
    def models(self) -> list[ModelCard]:
        """``auto`` (when there is a router), ``base``, and every expert with the base as parent."""
        base = self.manifest.base.id
        cards = []
        if self.router is not None:
            cards.append(
                ModelCard(id=AUTO, created=self.created, root=base, description="routed per request")
            )
        cards.append(ModelCard(id=BASE, created=self.created, root=base, description="the bare base model"))
        for entry in self.manifest.experts:
            cards.append(
                ModelCard(id=entry.name, created=self.created, parent=base, root=base, description=entry.task)
            )
        return cards

    # -- requests -------------------------------------------------------------------------------------
    async def prepare(self, body: ChatCompletionRequest | CompletionRequest) -> GenerationRequest:
        """Route and frame ``body`` in a worker thread (routing and tokenizing are CPU work)."""
        return await anyio.to_thread.run_sync(self.prepare_sync, body)

    def prepare_sync(self, body: ChatCompletionRequest | CompletionRequest) -> GenerationRequest:
        chat = isinstance(body, ChatCompletionRequest)
        query = _last_user(body) if chat else body.text()
        with self._lock:
            expert, weights, scores = self.decide(body.model, query, body.mole_top_k)
            template = template_for(self.manifest, weights)
            messages = None
            if chat:
                messages = _framed(body, template)
                prompt = self._chat_text(messages)
                ids = self._ids(prompt, special=not self._has_chat_template())
            else:
                prompt = frame(template, query)
                ids = self._ids(prompt, special=True)
        max_tokens = self._max_tokens(body.max_tokens, len(ids))
        if body.min_tokens > max_tokens:
            raise BadRequest(
                f"min_tokens ({body.min_tokens}) is over max_tokens ({max_tokens})", param="min_tokens"
            )
        return GenerationRequest(
            id=("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex,
            kind="chat" if chat else "completion",
            expert=expert,
            experts=weights,
            scores=scores,
            messages=messages,
            prompt=prompt,
            prompt_ids=ids,
            max_tokens=max_tokens,
            min_tokens=body.min_tokens,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            stop=body.stops(),
        )

    def decide(self, model: str, query: str, top_k: int) -> tuple[str, dict[str, float], dict[str, float]]:
        """(label of who answers, blend weights, router scores) for ``model``; routing only for auto."""
        if top_k > self.settings.top_k_limit:
            raise BadRequest(f"mole_top_k is at most {self.settings.top_k_limit}", param="mole_top_k")
        if top_k > 1 and model != AUTO:
            raise BadRequest("mole_top_k blends routed experts: use it with model 'auto'", param="mole_top_k")
        if model == BASE or (model == AUTO and not self.manifest.experts):
            return BASE, {}, {}
        if model == AUTO:
            if self.router is None:
                raise BadRequest("this registry has no router: name an expert or 'base'", param="model")
            route = self.router.route([query])[0]
            weights = route_weights(route, top_k, self.manifest.names())
            return "+".join(weights) or BASE, weights, route.scores
        if self.manifest.expert(model) is None:
            raise ModelNotFound(
                f"the model {model!r} does not exist (use 'auto', 'base' or an expert from /v1/models)",
                param="model",
            )
        return model, {model: 1.0}, {}

    def _has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def _chat_text(self, messages: list[dict[str, str]]) -> str:
        if self._has_chat_template():
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if len(messages) == 1:
            return messages[0]["content"]
        return "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant:"

    def _ids(self, text: str, *, special: bool) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _max_tokens(self, asked: int | None, prompt_tokens: int) -> int:
        limit, room = self.settings.max_tokens_limit, self.context_length - prompt_tokens
        if asked is not None and asked > limit:
            raise BadRequest(f"max_tokens is at most {limit} on this server", param="max_tokens")
        wanted = asked if asked is not None else min(self.settings.default_max_tokens, room)
        if room < 1 or wanted > room:
            raise ContextTooLong(
                f"this model's maximum context length is {self.context_length} tokens; the prompt has "
                f"{prompt_tokens} tokens and max_tokens is {wanted}",
                param="messages",
            )
        return wanted


def _last_user(body: ChatCompletionRequest) -> str:
    return next(m.text() for m in reversed(body.messages) if m.role == "user" and m.text().strip())


def _framed(body: ChatCompletionRequest, template: str) -> list[dict[str, str]]:
    """The conversation as chat-template input, the last user message framed by ``template``."""
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages
    ]
    last = max(i for i, m in enumerate(body.messages) if m.role == "user" and m.text().strip())
    messages[last]["content"] = frame(template, messages[last]["content"])
    return messages
