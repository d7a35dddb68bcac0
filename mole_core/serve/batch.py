"""The embedded engine's running batch: many requests' KV-cache rows, each row with its own adapter.

Rows are left-padded to one cache length; an attention mask hides the padding and every row keeps
its own position ids, so a row's tokens are what it would get alone. New requests are prefilled
together (with their adapters, through :meth:`MoLE.rows`) and their cache rows concatenated to the
running ones; finished or abandoned rows are selected away at once and all-padding columns trimmed.
One decode step runs every row, each with its adapter (the stacked mixed-adapter path).
Only the scheduler thread touches a batch.
"""

from __future__ import annotations

import contextlib
import inspect
import random
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .backend import GenerationRequest, TokenEvent
from .detok import TextStream
from .errors import EngineError


class Row:
    """One request in the batch: its adapter, sampler, text so far, and where its events go."""

    def __init__(self, handle: Any, adapter: str | None, tokenizer: Any, device: torch.device) -> None:
        self.handle = handle
        self.req: GenerationRequest = handle.req
        self.adapter = adapter
        self.text = TextStream(tokenizer, self.req.stop)
        self.tokens = 0
        self.done = False
        self.generator: torch.Generator | None = None
        if not self.req.greedy:
            self.generator = torch.Generator(device=device)
            seed = self.req.seed if self.req.seed is not None else random.getrandbits(63)
            self.generator.manual_seed(seed % (1 << 63))  # any integer a client sends is a valid seed

    @property
    def gone(self) -> bool:
        return self.done or self.handle.cancelled


class RunningBatch:
    """The rows decoding together, their KV cache, mask, positions and next input tokens."""

    def __init__(self, mole: Any, eos_ids: set[int], context_length: int) -> None:
        self.mole = mole
        self.tokenizer = mole.tokenizer
        self.device = mole.model.device
        self.eos_ids = eos_ids
        self.context_length = context_length
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.rows: list[Row] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # [rows, cache length + 1 per step], 0 = padding
        self.next_ids: torch.Tensor | None = None  # [rows]: each row's last sampled token
        self.positions: torch.Tensor | None = None  # [rows]: the position id of next_ids
        self._ctx: contextlib.ExitStack | None = None
        self._ctx_adapters: tuple[str | None, ...] | None = None
        self._extra: dict[str, Any] = {}
        self._keep_logits = _accepts(self.model, "logits_to_keep")
        # transformers 5.x renames the cache argument (past_key_values is deprecated)
        self._cache_arg = "cache" if _accepts(self.model, "cache") else "past_key_values"
        #: Rows dropped before they finished because their client went away (a running count).
        self.abandoned = 0

    @property
    def model(self) -> Any:
        """The runtime's model, read at each use: paging the first adapter in wraps the bare base."""
        return self.mole.model

    # -- adapters ---------------------------------------------------------------------------------------
    def _adapters(self, adapters: Sequence[str | None]) -> dict[str, Any]:
        """Enter the runtime's adapter context for these rows; kept open across steps while unchanged."""
        key = tuple(adapters)
        if self._ctx is None or self._ctx_adapters != key:
            self.close()
            stack = contextlib.ExitStack()
            self._extra = stack.enter_context(self.mole.rows(key))
            self._ctx, self._ctx_adapters = stack, key
        return self._extra

    def close(self) -> None:
        if self._ctx is not None:
            ctx, self._ctx, self._ctx_adapters = self._ctx, None, None
            ctx.close()

    # -- admission --------------------------------------------------------------------------------------
    def admit(self, rows: list[Row]) -> None:
        """Prefill ``rows`` together, send their first tokens, and merge them into the batch."""
        from transformers import DynamicCache

        rows = sorted(rows, key=lambda r: r.adapter or "")  # adapter groups become slices in prefill
        prompts = [r.req.prompt_ids for r in rows]
        length = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad_id] * (length - len(p)) + p for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        positions = (mask.cumsum(-1) - 1).masked_fill_(mask == 0, 1)
        cache = DynamicCache()
        kwargs = {"logits_to_keep": 1} if self._keep_logits else {}
        self.close()
        try:
            extra = self._adapters([r.adapter for r in rows])
            out = self.model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{self._cache_arg: cache},
                **kwargs,
                **extra,
            )
        finally:
            self.close()
        first = self._pick(out.logits[:, -1, :], rows)
        self._merge(cache, mask, first, mask.sum(-1))
        self.rows.extend(rows)
        self._emit(rows, first.tolist())
        self.drop_finished()

    def _merge(self, cache: Any, mask: torch.Tensor, next_ids: torch.Tensor, positions: torch.Tensor) -> None:
        for layer in cache.layers:
            if type(layer).__name__ != "DynamicLayer":
                raise EngineError(
                    f"continuous batching needs full-attention KV caches; this model has {type(layer).__name__}"
                )
        if not self.rows:
            self.cache, self.mask, self.next_ids, self.positions = cache, mask, next_ids, positions
            return
        length = max(self.mask.shape[1], mask.shape[1])
        self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(mask, length, 1)])
        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            old.keys = torch.cat([_pad_left(old.keys, length, 2), _pad_left(new.keys, length, 2)])
            old.values = torch.cat([_pad_left(old.values, length, 2), _pad_left(new.values, length, 2)])
        self.next_ids = torch.cat([self.next_ids, next_ids])
        self.positions = torch.cat([self.positions, positions])

    # -- decoding ---------------------------------------------------------------------------------------
    def step(self) -> None:
        """One decode step for every row; finished rows leave at once."""
        extra = self._adapters([r.adapter for r in self.rows])
        self.mask = F.pad(self.mask, (0, 1), value=1)
        out = self.model(
            input_ids=self.next_ids[:, None],
            attention_mask=self.mask,
            position_ids=self.positions[:, None],
            use_cache=True,
            **{self._cache_arg: self.cache},
            **extra,
        )
        tokens = self._pick(out.logits[:, -1, :], self.rows)
        self.positions = self.positions + 1
        self.next_ids = tokens
        self._emit(self.rows, tokens.tolist())
        self.drop_finished()

    def _pick(self, logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        """Each row's next token: argmax for greedy rows, its own seeded sampler for the others."""
        early = [i for i, row in enumerate(rows) if row.tokens < row.req.min_tokens]
        if early:  # min_tokens: no end of text yet (as generate's min_new_tokens does it)
            logits[torch.tensor(early)[:, None], torch.tensor(sorted(self.eos_ids))[None, :]] = float("-inf")
        tokens = logits.argmax(-1)
        for i, row in enumerate(rows):
            if row.generator is not None:
                tokens[i] = _sample(logits[i], row.req.temperature, row.req.top_p, row.generator)
        return tokens

    def _emit(self, rows: Sequence[Row], tokens: list[int]) -> None:
        for row, token in zip(rows, tokens, strict=True):
            if row.gone:
                continue
            finish = None
            if token in self.eos_ids:
                finish, text = "stop", row.text.finish()
            else:
                row.tokens += 1
                text = row.text.add(token)
                if row.text.stopped:
                    finish = "stop"
                elif (
                    row.tokens >= row.req.max_tokens
                    or len(row.req.prompt_ids) + row.tokens >= self.context_length
                ):
                    finish = "length"
                    text += row.text.finish()
            row.done = finish is not None
            row.handle.emit(
                TokenEvent(
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=len(row.req.prompt_ids),
                    completion_tokens=row.tokens,
                )
            )

    # -- leaving ----------------------------------------------------------------------------------------
    def drop_finished(self) -> None:
        """Remove finished and cancelled rows from the cache, then trim columns that are all padding.
        Rows whose client went away before the end are counted in :attr:`abandoned`."""
        keep = [i for i, row in enumerate(self.rows) if not row.gone]
        if len(keep) == len(self.rows):
            return
        self.abandoned += sum(1 for row in self.rows if row.handle.cancelled and not row.done)
        self.close()
        if not keep:
            self.reset()
            return
        index = torch.tensor(keep, device=self.device)
        self.cache.batch_select_indices(index)
        self.mask, self.next_ids, self.positions = (
            self.mask[index],
            self.next_ids[index],
            self.positions[index],
        )
        self.rows = [self.rows[i] for i in keep]
        start = int(self.mask.any(0).int().argmax())
        if start > 0:
            self.mask = self.mask[:, start:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]

    def fail(self, error: Exception) -> None:
        """Send ``error`` to every row and empty the batch (after a failed step)."""
        for row in self.rows:
            if not row.gone:
                row.handle.emit(error)
        self.reset()

    def reset(self) -> None:
        self.close()
        self.rows, self.cache, self.mask, self.next_ids, self.positions = [], None, None, None, None


def _pad_left(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - dim - 1) + [missing, 0]
    return F.pad(tensor, pad)


def _sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if not torch.isfinite(probs).all():
        return int(logits.argmax())
    if top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # keep the smallest set reaching top_p
        sorted_probs[outside] = 0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def _accepts(model: Any, name: str) -> bool:
    """Whether the underlying transformers model's forward takes ``name``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return name in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False
