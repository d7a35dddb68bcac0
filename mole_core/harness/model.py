"""A MoLE system as an lm-evaluation-harness model: every request routed, batches run mixed.

:class:`MoleLM` subclasses lm-eval's ``HFLM`` and keeps all of its request handling (tokenising,
sorting, batching, truncation, the one-token logits cache, stop sequences); it changes only which
adapter each row of a batch runs. Before a batch of requests is handed to ``HFLM`` every request is
routed on its context (``expert=`` forces one expert or ``base`` for all), and inside ``HFLM``'s
batched forward (``_model_call``) and ``generate`` (``_model_generate``) the rows run through
:meth:`MoLE.rows <mole_core.runtime.MoLE.rows>`, the same mixed-adapter fast path as
:meth:`MoLE.generate <mole_core.runtime.MoLE.generate>`.

A row is recognised by what ``HFLM`` puts in it: its tokens for loglikelihood (right-padded with
zeros), its context string for generation. Requests whose rows would look alike but run different
adapters are split into separate passes, so a row never runs the wrong expert.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from lm_eval import utils as lm_utils
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from ..blending import route_weights
from ..errors import MoleError, NotFoundError
from ..runtime import BASE, MoLE
from ..specs import DEFAULT_TEMPLATE, frame

log = logging.getLogger(__name__)

Adapter = str | None
"""A PEFT adapter name for one row (an expert, or a cached top-k blend); None is the bare base model."""


def _by_adapter(adapters: Sequence[Adapter]) -> list[list[int]]:
    groups: dict[Adapter, list[int]] = {}
    for i, adapter in enumerate(adapters):
        groups.setdefault(adapter, []).append(i)
    return list(groups.values())


def _ambiguous(keys: Sequence[Any], adapters: Sequence[Adapter]) -> bool:
    """Whether some key (what identifies a row) would have to run two different adapters."""
    seen: dict[Any, Adapter] = {}
    return any(seen.setdefault(k, a) != a for k, a in zip(keys, adapters, strict=True))


def _rounds(keys: Sequence[Any], adapters: Sequence[Adapter]) -> list[list[int]]:
    """Request indices in passes: one mixed pass, or one pass per adapter when rows would be ambiguous."""
    return _by_adapter(adapters) if _ambiguous(keys, adapters) else [list(range(len(keys)))]


def _strip_zeros(row: Sequence[int]) -> tuple[int, ...]:
    end = len(row)
    while end and row[end - 1] == 0:
        end -= 1
    return tuple(row[:end])


@register_model("mole")
class MoleLM(HFLM):
    """An lm-eval model over a MoLE registry: ``lm_eval.simple_evaluate(model=MoleLM(registry=DIR))``.

    Args:
        registry: the registry directory (ignored when ``mole`` is given).
        expert: ``None`` routes each request; an expert name forces it for all; ``"base"`` runs the
            bare base model.
        top_k: blend each request's K best experts, weighted by the router (as ``MoLE.generate``).
        mole: an already loaded :class:`~mole_core.runtime.MoLE` to reuse (one base model in memory for
            several evaluations).
        device, dtype: where and in what a newly loaded system runs.
        batch_size, max_length, **kwargs: ``HFLM``'s own (``max_length`` defaults to the base model's).
    """

    def __init__(
        self,
        registry: str = ".",
        expert: str | None = None,
        top_k: int | str = 1,
        mole: MoLE | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int | str = 8,
        **kwargs: Any,
    ) -> None:
        if mole is None:
            forced = expert not in (None, "")
            mole = MoLE.from_registry(registry, device=device, dtype=dtype, load_router=not forced)
        kwargs.pop("pretrained", None)
        self.mole = mole
        super().__init__(
            pretrained=mole.model, tokenizer=mole.tokenizer, backend="causal", batch_size=batch_size, **kwargs
        )
        self.top_k = int(top_k)
        self.expert = self._check_expert(expert or None)
        self._row_adapters: dict[Any, Adapter] = {}
        self._context_adapters: dict[str, Adapter] = {}
        self._window_adapters: dict[tuple[int, ...], Adapter] = {}
        self._batch_contexts: list[str] = []
        self._chat_queries: dict[str, str] = {}
        self.routed: dict[str, int] = {}
        """Requests per expert label (``base``, an expert, or ``a+b`` for a blend) so far."""

    @property
    def model(self) -> Any:
        """The system's model, read each time: paging in the first adapter wraps the base in PEFT."""
        return self.mole.model

    def _check_expert(self, expert: str | None) -> str | None:
        if self.top_k < 1:
            raise MoleError("top_k must be at least 1")
        if expert is not None and expert != BASE and expert not in self.mole.experts:
            raise NotFoundError(
                f"no expert {expert!r} (registered: {', '.join(self.mole.experts) or 'none'}; or 'base')"
            )
        if expert is None and not self.mole.experts:
            return BASE
        return expert

    # -- routing ----------------------------------------------------------------------------------------
    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        """As ``HFLM``'s; remembers the last user message, which is what the router sees for it."""
        rendered = super().apply_chat_template(chat_history, add_generation_prompt)
        users = [m["content"] for m in chat_history if m.get("role") == "user" and m.get("content")]
        if users:
            self._chat_queries[rendered] = users[-1]
        return rendered

    def assign(self, texts: Sequence[str]) -> list[tuple[Adapter, str]]:
        """Per text: the adapter its row runs and the prompt template of its expert (routed, or forced)."""
        unique = list(dict.fromkeys(texts))
        queries = [self._chat_queries.get(t, t).strip() or "(empty)" for t in unique]
        if self.expert is None:
            weights = [route_weights(r, self.top_k, self.mole.experts) for r in self.mole.route(queries)]
        else:
            weights = [{} if self.expert == BASE else {self.expert: 1.0}] * len(unique)
        per_row = [self.mole.adapter_for(w) for w in weights]
        by_text = {}
        counts = Counter(texts)
        for text, adapter, w in zip(unique, per_row, weights, strict=True):
            template = DEFAULT_TEMPLATE if text in self._chat_queries else self.mole.template_for(w)
            by_text[text] = (adapter, template)
            label = "+".join(w) if w else BASE
            self.routed[label] = self.routed.get(label, 0) + counts[text]
        return [by_text[t] for t in texts]

    def _framed(self, requests: list[Any]) -> tuple[list[Any], list[Adapter]]:
        """Requests with their context framed by their expert's prompt template, and their adapters."""
        plan = self.assign([req.args[0] or (req.args[1] if len(req.args) > 1 else "") for req in requests])
        out = []
        for req, (_, template) in zip(requests, plan, strict=True):
            if template != DEFAULT_TEMPLATE and req.args[0]:
                req = dataclasses.replace(req, arguments=(frame(template, req.args[0]), *req.args[1:]))
            out.append(req)
        return out, [adapter for adapter, _ in plan]

    # -- loglikelihood --------------------------------------------------------------------------------------
    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        framed, adapters = self._framed(requests)
        results: list[Any] = [None] * len(requests)
        for idx in _rounds([r.args[0] for r in framed], adapters):
            self._context_adapters = {framed[i].args[0]: adapters[i] for i in idx}
            part = super().loglikelihood([framed[i] for i in idx], disable_tqdm=disable_tqdm)
            for i, value in zip(idx, part, strict=True):
                results[i] = value
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        adapters = [adapter for adapter, _ in self.assign([req.args[0] for req in requests])]
        windows = [self._windows(req.args[0]) for req in requests]
        keys = [w for ws in windows for w in ws]
        owners = [a for a, ws in zip(adapters, windows, strict=True) for _ in ws]
        results: list[Any] = [None] * len(requests)
        passes = _by_adapter(adapters) if _ambiguous(keys, owners) else [list(range(len(requests)))]
        for idx in passes:
            self._window_adapters = {w: adapters[i] for i in idx for w in windows[i]}
            part = super().loglikelihood_rolling([requests[i] for i in idx], disable_tqdm=disable_tqdm)
            for i, value in zip(idx, part, strict=True):
                results[i] = value
        return results

    def _windows(self, text: str) -> list[tuple[int, ...]]:
        """The token windows ``HFLM.loglikelihood_rolling`` makes of ``text`` (context + continuation)."""
        pairs = lm_utils.get_rolling_token_windows(
            token_list=self.tok_encode(text), prefix_token=self.prefix_token_id,
            max_seq_len=self.max_length, context_len=1,
        )  # fmt: skip
        return [tuple(a + b) for a, b in map(lm_utils.make_disjoint_window, pairs)]

    def _loglikelihood_tokens(
        self, requests: list[Any], disable_tqdm: bool = False, override_bs: Any = None
    ) -> list[Any]:
        adapters = [
            self._context_adapters[req[0][0]]
            if req[0] is not None
            else self._window_adapters[tuple(req[1] + req[2])]
            for req in requests
        ]
        keys = [_strip_zeros((ctx + cont)[-(self.max_length + 1) :][:-1]) for _, ctx, cont in requests]
        results: list[Any] = [None] * len(requests)
        for idx in _rounds(keys, adapters):
            self._row_adapters = {keys[i]: adapters[i] for i in idx}
            part = super()._loglikelihood_tokens([requests[i] for i in idx], disable_tqdm, override_bs)
            for i, value in zip(idx, part, strict=True):
                results[i] = value
        return results

    def _model_call(self, inps: Any, attn_mask: Any = None, labels: Any = None) -> Any:
        per_row = [self._row_adapters[_strip_zeros(row)] for row in inps.tolist()]
        with self.mole.rows(per_row) as extra:
            if not extra:
                return super()._model_call(inps, attn_mask, labels)
            import torch

            with torch.no_grad():
                return self.model(inps, **extra).logits

    # -- generation -------------------------------------------------------------------------------------
    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        framed, adapters = self._framed(requests)
        results: list[Any] = [None] * len(requests)
        for idx in _rounds([r.args[0] for r in framed], adapters):
            self._context_adapters = {framed[i].args[0]: adapters[i] for i in idx}
            part = super().generate_until([framed[i] for i in idx], disable_tqdm=disable_tqdm)
            for i, value in zip(idx, part, strict=True):
                results[i] = value
        return results

    def tok_batch_encode(self, strings: list[str], *args: Any, **kwargs: Any) -> Any:
        self._batch_contexts = list(strings)  # generate_until encodes exactly the batch it then generates
        return super().tok_batch_encode(strings, *args, **kwargs)

    def _model_generate(
        self, context: Any, max_length: int, stop: list[str], **generation_kwargs: Any
    ) -> Any:
        per_row = [self._context_adapters[text] for text in self._batch_contexts]
        if len(per_row) != context.shape[0]:
            raise MoleError("internal: the generation batch does not match the contexts encoded for it")
        with self.mole.rows(per_row) as extra:
            return super()._model_generate(context, max_length, stop, **generation_kwargs, **extra)
