"""The MoLE runtime: one base model in memory, every registered adapter attached by name, a router.

``route`` asks the router; ``generate`` runs a whole batch at once, each row with its own adapter
(PEFT's per-row ``adapter_names``, or the stacked fast path of :mod:`mole_core.fastlora` when it
applies), so queries routed to different experts never serialise. The runtime reads the registry
and never writes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel, Field

from . import basemodel
from .adaptercache import AdapterCache, resolve_capacity
from .adapters import uses_dora
from .attach import attach_adapters, verify_adapter
from .blending import route_weights, template_for
from .errors import MoleError, NotFoundError
from .manifest import ExpertEntry, Manifest
from .paging import AdapterPaging, make_mixed
from .registry import Registry
from .routing import BASE, Route, Router
from .specs import frame

log = logging.getLogger(__name__)

__all__ = ["BASE", "Generation", "MoLE", "attach_adapters", "check_queries", "verify_adapter"]

BLEND_CACHE_SIZE = 16


class Generation(BaseModel):
    """One generated answer: the text, which expert (or blend) produced it, and the router's scores."""

    query: str
    text: str
    expert: str
    experts: dict[str, float] = Field(default_factory=dict, description="Blend weights when top_k > 1.")
    scores: dict[str, float] = Field(default_factory=dict)
    new_tokens: int = 0


def check_queries(queries: Sequence[str]) -> list[str]:
    """Refuse empty or whitespace-only queries, naming the first one (1-based)."""
    if isinstance(queries, str):
        queries = [queries]
    out = list(queries)
    if not out:
        raise MoleError("no queries given")
    for i, query in enumerate(out, 1):
        if not isinstance(query, str) or not query.strip():
            raise MoleError(f"query {i} is empty")
    return out


class MoLE(AdapterPaging):
    """A loaded mixture: base model + adapters + router. Build it with :meth:`from_registry`."""

    def __init__(
        self,
        registry: Registry,
        manifest: Manifest,
        model: Any,
        tokenizer: Any,
        router: Router | None,
        *,
        max_loaded_experts: int | str | None = None,
    ) -> None:
        self.registry = registry
        self.manifest = manifest
        self.model = model
        self.tokenizer = tokenizer
        self._router = router
        self._blends: OrderedDict[tuple[tuple[str, float], ...], str] = OrderedDict()
        self._mixed = make_mixed(model)
        self._dora: dict[str, bool] = {}
        self._entries = {e.name: e for e in manifest.experts}
        self.cache = AdapterCache(resolve_capacity(max_loaded_experts), self._load, self._unload)
        for name in getattr(model, "peft_config", {}):  # attached by the caller
            if name in self._entries:
                self.cache.mark_loaded(name)

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def from_registry(
        cls,
        directory: str | os.PathLike[str] | Registry = ".",
        *,
        dtype: str | None = None,
        device: str | None = None,
        load_router: bool = True,
        router: Router | None = None,
        max_loaded_experts: int | str | None = None,
    ) -> MoLE:
        """Load the base model once and the router; attach the adapters, or page them in on demand.

        ``max_loaded_experts`` bounds how many adapters are attached at once (``"all"``: no bound; None:
        ``$MOLE_MAX_LOADED_EXPERTS``, else 32). A registry that fits is attached whole at start; a larger
        one attaches each adapter at its first use and evicts the least recently used one no running
        batch needs (see docs/scaling.md). ``device`` is resolved by
        :func:`~mole_core.devices.resolve_device` (None: ``$MOLE_DEVICE``, else a GPU when there is
        one); adapters follow the base model there, the router stays on the CPU. ``router`` replaces
        the registry's router (any :class:`Router`); ``load_router=False`` skips it for callers that
        always force an expert.
        """
        from .devices import resolve_device

        registry = directory if isinstance(directory, Registry) else Registry(directory)
        manifest = registry.load()
        device = resolve_device(device)
        source = basemodel.resolve_source(manifest.base)
        tokenizer = basemodel.load_tokenizer(manifest.base, source)
        model = basemodel.load_model(manifest.base, source, dtype=dtype, device=device)
        if router is None and load_router and manifest.experts:
            from .routing import load_router as load

            router = load(registry, manifest)
        mole = cls(registry, manifest, model, tokenizer, router, max_loaded_experts=max_loaded_experts)
        capacity = mole.cache.capacity
        if capacity is None or len(manifest.experts) <= capacity:
            mole.ensure_loaded(manifest.names())
        return mole

    @property
    def device(self) -> str:
        """Where the base model and the adapters live (``cpu``, ``cuda:0``, ...)."""
        return str(self.model.device)

    @property
    def experts(self) -> list[str]:
        return self.manifest.names()

    @property
    def router(self) -> Router:
        if self._router is None:
            raise MoleError("no router: register experts, then run `mole train-router` (or force --expert)")
        return self._router

    def add_expert(self, entry: ExpertEntry) -> None:
        """Attach an adapter registered after loading, without reloading the base model."""
        if entry.name in self._entries:
            raise MoleError(f"expert {entry.name!r} is already loaded in this runtime")
        self._entries[entry.name] = entry
        try:
            self.ensure_loaded([entry.name])
        except BaseException:
            del self._entries[entry.name]
            raise
        self.manifest.experts.append(entry)
        if self._router is not None:  # an embedding router can route to it at once, from its examples
            from .routing import extend_with_new_experts

            extend_with_new_experts(self._router, self.manifest)

    # -- routing ------------------------------------------------------------------------------------
    def route(self, queries: Sequence[str]) -> list[Route]:
        """The chosen expert and every expert's probability, per query."""
        queries = check_queries(queries)
        return self.router.route(queries)

    # -- generation ---------------------------------------------------------------------------------
    def generate(
        self,
        queries: Sequence[str],
        *,
        max_new_tokens: int = 64,
        expert: str | None = None,
        top_k: int = 1,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> list[Generation]:
        """Answer every query in one batch.

        ``expert=None`` routes each query; a name forces that expert for all; ``"base"`` runs the bare
        base model. ``top_k > 1`` blends each query's K best experts, weighted by the router. A batch
        needing more distinct experts than ``max_loaded_experts`` runs as consecutive sub-batches of at
        most that many (answers in query order), so the bound on attached adapters always holds.
        """
        queries = check_queries(queries)
        expert = self._check_request(max_new_tokens, expert, top_k)
        routes: list[Route | None] = [None] * len(queries)
        if expert is None:
            routes = list(self.route(queries))
        per_row, weights = self._assign(routes, expert, top_k)
        templates = [self.template_for(w) for w in weights]
        texts, counts = [""] * len(queries), [0] * len(queries)
        for rows in self._sub_batches(per_row):
            with self.use([n for n in (per_row[i] for i in rows) if n in self._entries]):
                part = self._generate_rows(
                    [queries[i] for i in rows],
                    [per_row[i] for i in rows],
                    max_new_tokens=max_new_tokens,
                    do_sample=do_sample,
                    temperature=temperature,
                    top_p=top_p,
                    seed=seed,
                    templates=[templates[i] for i in rows],
                )
            for i, text, count in zip(rows, *part, strict=True):
                texts[i], counts[i] = text, count
        return [
            Generation(
                query=query,
                text=text,
                expert="+".join(row_weights) if row_weights else BASE,
                experts=row_weights,
                scores=route.scores if route else {},
                new_tokens=count,
            )  # fmt: skip
            for query, route, row_weights, text, count in zip(
                queries, routes, weights, texts, counts, strict=True
            )
        ]

    def _check_request(self, max_new_tokens: int, expert: str | None, top_k: int) -> str | None:
        """Refuse bad generation arguments in one line; no experts at all means the bare base."""
        if max_new_tokens < 1:
            raise MoleError("max_new_tokens must be at least 1")
        if top_k < 1:
            raise MoleError("top_k must be at least 1")
        if expert is not None and expert != BASE and expert not in self._entries:
            known = ", ".join(self.experts[:20]) + (", ..." if len(self._entries) > 20 else "")
            raise NotFoundError(f"no expert {expert!r} (registered: {known or 'none'}; or 'base')")
        return BASE if expert is None and not self._entries else expert

    def _assign(
        self, routes: Sequence[Route | None], expert: str | None, top_k: int
    ) -> tuple[list[str | None], list[dict[str, float]]]:
        """Per row: the PEFT adapter name to run (None = bare base) and the experts' blend weights."""
        weights: list[dict[str, float]] = []
        for route in routes:
            if route is None:
                weights.append({} if expert in (None, BASE) else {expert: 1.0})
            else:
                weights.append(route_weights(route, top_k, self.experts, blendable=self._blendable))
        return [self.adapter_for(w) for w in weights], weights

    def adapter_for(self, weights: dict[str, float]) -> str | None:
        """The PEFT adapter that runs a row with these blend weights: None for the bare base, the
        expert's own for one expert, a cached ``cat`` blend for several (created on first use)."""
        if not weights:
            return None
        if len(weights) == 1:
            return next(iter(weights))
        return self._blend_adapter(weights)

    @contextlib.contextmanager
    def rows(self, per_row: Sequence[str | None]) -> Iterator[dict[str, Any]]:
        """Inside, forwards of ``self.model`` run adapter ``per_row[i]`` (None: bare base) for row i.

        Yields extra keyword arguments for the model's forward/generate (PEFT's ``adapter_names``
        when the stacked fast path is off). The one place a batch asks for its adapters: anything
        that must happen before they run (loading an evicted adapter) belongs here.
        """
        from peft import PeftModel

        with self.use([name for name in per_row if name in self._entries]):  # loaded and pinned
            if not isinstance(self.model, PeftModel):
                yield {}
            elif self._mixed is not None:
                with self._mixed.rows(list(per_row)):
                    yield {}
            elif any(name is not None and not self._blendable(name) for name in per_row):
                from .fastlora import MixedLoRA  # PEFT's per-row code, which PEFT refuses for DoRA

                with MixedLoRA(self.model, stacked=False).rows(list(per_row)):
                    yield {}
            else:
                from .fastlora import BASE_ROW  # PEFT's name for a row without adapter

                yield {"adapter_names": [name if name is not None else BASE_ROW for name in per_row]}

    def _blendable(self, name: str) -> bool:
        """False for a DoRA expert: PEFT cannot blend its magnitudes, nor run it in ``adapter_names``."""
        if name not in self._dora:
            entry = self._entries.get(name)
            self._dora[name] = entry is not None and uses_dora(self.registry.expert_dir(entry))
        return not self._dora[name]

    def _blend_adapter(self, blend: dict[str, float]) -> str:
        """A PEFT adapter mixing experts with ``cat`` (exact for different ranks), cached per combination."""
        key = tuple(sorted(blend.items()))
        if key in self._blends:
            self._blends.move_to_end(key)
            return self._blends[key]
        name = "blend__" + "__".join(f"{n}_{int(round(w * 100))}" for n, w in key).replace("-", "_").replace(
            ".", "_"
        )
        with self.use([n for n, _ in key]):  # its experts attached while it is built from them
            self.model.add_weighted_adapter(
                adapters=[n for n, _ in key],
                weights=[w for _, w in key],
                adapter_name=name,
                combination_type="cat",
            )
        self._blends[key] = name
        if len(self._blends) > BLEND_CACHE_SIZE:
            _, old = self._blends.popitem(last=False)
            self.model.delete_adapter(old)
        if self._mixed is not None:
            self._mixed.invalidate()
        return name

    def template_for(self, weights: dict[str, float]) -> str:
        """The prompt template of a row's expert (of its heaviest expert in a blend; none for base)."""
        return template_for(self.manifest, weights)

    def prompts(
        self, queries: Sequence[str], max_new_tokens: int, templates: Sequence[str] | None = None
    ) -> list[str]:
        """Queries framed by their expert's prompt template, then the chat template (where the
        tokenizer has one); long queries truncated first, so the framing always survives."""
        context = context_length(self.model)
        limit = context - max_new_tokens - 32
        if limit < 1:
            raise MoleError(
                f"max_new_tokens {max_new_tokens} leaves no room for the query in the model's context of "
                f"{context} tokens (at most {context - 33})"
            )
        out = []
        for i, query in enumerate(queries, 1):
            # No token is longer than ~16 characters in practice: clip before tokenizing, so a 20 MB line
            # never becomes a 20 MB tokenizer job (the token cut below still decides what is kept).
            ids = self.tokenizer(query[: limit * 16], add_special_tokens=False)["input_ids"]
            if limit > 0 and len(ids) > limit:
                log.warning("query %d has %d tokens; truncated to %d to fit the context", i, len(ids), limit)
                query = self.tokenizer.decode(ids[:limit])
            if templates is not None:
                query = frame(templates[i - 1], query)
            if getattr(self.tokenizer, "chat_template", None):
                query = self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": query}], add_generation_prompt=True, tokenize=False
                )
            out.append(query)
        return out

    def _generate_rows(
        self,
        queries: Sequence[str],
        per_row: Sequence[str | None],
        *,
        max_new_tokens: int,
        do_sample: bool,
        temperature: float,
        top_p: float,
        seed: int | None,
        templates: Sequence[str] | None = None,
    ) -> tuple[list[str], list[int]]:
        import torch

        prompts = self.prompts(queries, max_new_tokens, templates)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        batch = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=not has_template
        )
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "do_sample": do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p)
            if seed is not None:
                torch.manual_seed(seed)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self._run_generate(batch, list(per_row), kwargs)
        new = output[:, batch["input_ids"].shape[1] :]
        texts, counts = [], []
        eos = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        for row in new.tolist():
            n = next((i for i, t in enumerate(row) if t in eos), len(row))
            counts.append(n)
            texts.append(self.tokenizer.decode(row[:n], skip_special_tokens=True).strip())
        return texts, counts

    def _run_generate(self, batch: dict[str, Any], per_row: list[str | None], kwargs: dict[str, Any]) -> Any:
        with self.rows(per_row) as extra:
            return self.model.generate(**batch, **extra, **kwargs)


def context_length(model: Any) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "max_position_embeddings", 0) or 2048)
