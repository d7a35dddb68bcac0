"""The embedded engine: continuous batching over one loaded :class:`~mole_core.runtime.MoLE`.

A scheduler thread (torch is not async) owns the model and a :class:`RunningBatch`. At every decode
step boundary it drops rows whose client left, admits waiting requests (prefilled together with
their adapters, their cache rows merged into the batch), and runs one step for all rows, each with
its own adapter. Every token goes to its request's asyncio queue through
``loop.call_soon_threadsafe``; a row leaves the batch the step it finishes (EOS, a stop string,
``max_tokens``). Greedy rows get what ``MoLE.generate`` gives for the same prompt and expert.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio

from ..errors import AdapterError, MoleError
from .backend import GenerationRequest, TokenEvent
from .batch import Row, RunningBatch
from .errors import BadRequest, EngineError, EngineUnavailable, QueueFull, ServeError
from .metrics import ServeMetrics
from .settings import ServeSettings

log = logging.getLogger(__name__)


class _Handle:
    """One request as the engine sees it; ``cancelled`` is set from the event loop, read by the thread."""

    __slots__ = ("req", "loop", "queue", "cancelled", "finished")

    def __init__(self, req: GenerationRequest, loop: asyncio.AbstractEventLoop) -> None:
        self.req = req
        self.loop = loop
        self.queue: asyncio.Queue[TokenEvent | Exception] = asyncio.Queue()
        self.cancelled = False
        self.finished = False

    def emit(self, item: TokenEvent | Exception) -> None:
        """From the scheduler thread: hand an event (or the error ending the request) to the loop."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.cancelled = True


class EmbeddedEngine:
    """:class:`~mole_core.serve.backend.Backend` running the registry's base model and adapters here."""

    def __init__(self, mole: Any, settings: ServeSettings) -> None:
        from ..runtime import context_length

        self.mole = mole
        self.settings = settings
        # a tokenizer of its own for detokenizing: a fast tokenizer must not be used by two threads at once
        self.tokenizer = copy.deepcopy(mole.tokenizer)
        self.batch = RunningBatch(mole, _eos_ids(mole), context_length(mole.model))
        self.metrics = ServeMetrics()
        self._waiting: collections.deque[_Handle] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- Backend ---------------------------------------------------------------------------------------
    async def start(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mole-engine", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            await anyio.to_thread.run_sync(self._thread.join, 60)

    def health(self) -> dict[str, Any]:
        alive = self._thread is not None and self._thread.is_alive() and not self._stopping
        return {
            "status": "ok" if alive else "unavailable",
            "engine": "embedded",
            "device": self.mole.device,
            "running": len(self.batch.rows),
            "waiting": len(self._waiting),
        }

    async def generate(self, request: GenerationRequest) -> AsyncIterator[TokenEvent]:
        if self._loop is None or self._thread is None or not self._thread.is_alive() or self._stopping:
            raise EngineUnavailable("the engine is not running")
        handle = _Handle(request, self._loop)
        with self._cond:
            if (
                len(self._waiting) + len(self.batch.rows)
                >= self.settings.max_batch_size + self.settings.max_queue
            ):
                raise QueueFull(f"the server is busy ({len(self._waiting)} requests waiting); retry later")
            self._waiting.append(handle)
            self.metrics.queue_depth.set(len(self._waiting))
            self._cond.notify_all()
        return self._events(handle)

    async def _events(self, handle: _Handle) -> AsyncIterator[TokenEvent]:
        try:
            while True:
                item = await handle.queue.get()
                if isinstance(item, Exception):
                    raise item
                yield item
                if item.finish_reason is not None:
                    handle.finished = True
                    return
        finally:
            if not handle.finished:
                self.cancel(handle)

    def cancel(self, handle: _Handle) -> None:
        """Free a request's place: out of the queue now, out of the batch at the next step boundary."""
        handle.cancelled = True
        with self._cond:
            if handle in self._waiting:
                self._waiting.remove(handle)
                self.metrics.queue_depth.set(len(self._waiting))
            self._cond.notify_all()

    # -- the scheduler thread --------------------------------------------------------------------------
    def _run(self) -> None:
        import torch

        abandoned = 0
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stopping and not self._waiting and not self.batch.rows:
                        self._cond.wait()
                    if self._stopping:
                        break
                    admitted = self._take()
                try:
                    self.batch.drop_finished()
                    if admitted:
                        self._admit(admitted)
                    if self.batch.rows:
                        self.metrics.batch_size.observe(len(self.batch.rows))
                        self.batch.step()
                except Exception:
                    log.exception("decode step failed; failing the running batch")
                    self.batch.fail(EngineError("the engine failed while decoding this request"))
                self.metrics.running.set(len(self.batch.rows))
                self.metrics.abandoned.inc(self.batch.abandoned - abandoned)
                abandoned = self.batch.abandoned
        self._shutdown()

    def _take(self) -> list[_Handle]:
        """Waiting requests that fit now: free rows, prompt tokens up to the prefill budget, and room in
        the adapter cache (one step never needs more distinct experts than may be attached)."""
        free = self.settings.max_batch_size - len(self.batch.rows)
        taken: list[_Handle] = []
        budget = self.settings.max_prefill_tokens
        capacity = self.mole.max_loaded_experts
        known = set(self.mole.experts) if capacity is not None else set()
        in_use = {row.adapter for row in self.batch.rows if row.adapter in known}
        while self._waiting and len(taken) < free:
            handle = self._waiting[0]
            if handle.cancelled:
                self._waiting.popleft()
                continue
            cost = len(handle.req.prompt_ids)
            if taken and cost > budget:
                break
            needed = set(handle.req.experts) & known
            if capacity is not None and len(in_use | needed) > capacity:
                if len(needed) <= capacity:
                    break  # waits (in order) until running rows finish and free their experts
                self._waiting.popleft().emit(
                    BadRequest(
                        f"this request blends {len(needed)} experts, but the server keeps at most {capacity} "
                        "attached (--max-loaded-experts)"
                    )
                )
                continue
            in_use |= needed
            budget -= cost
            taken.append(self._waiting.popleft())
        self.metrics.queue_depth.set(len(self._waiting))
        return taken

    def _admit(self, handles: list[_Handle]) -> None:
        """Prefill the new requests; a failure fails them alone, the running rows carry on."""
        import torch

        rows = []
        known = set(self.mole.experts)
        for handle in handles:
            if handle.cancelled:
                continue
            try:
                with torch.inference_mode(False):  # a new blend's weights must be normal tensors
                    self.mole.ensure_loaded([n for n in handle.req.experts if n in known])  # one by one
                    adapter = self.mole.adapter_for(handle.req.experts)
                rows.append(Row(handle, adapter, self.tokenizer, self.batch.device))
            except AdapterError as exc:  # e.g. a tampered file: this request fails, the others run
                log.error("%s", exc)
                handle.emit(EngineError("an expert of this request could not be loaded (see the server log)"))
            except MoleError as exc:
                handle.emit(exc if isinstance(exc, ServeError) else ServeError(str(exc)))
        if not rows:
            return
        running = list(self.batch.rows)
        try:
            self.batch.admit(rows)
        except ServeError as exc:  # e.g. a model whose cache cannot be batched
            for row in rows:
                row.handle.emit(exc)
        except Exception:
            log.exception("prefill failed")
            if len(self.batch.rows) != len(running):  # failed after merging: the batch is unusable
                self.batch.fail(EngineError("the engine failed while decoding this request"))
            for row in rows:
                row.handle.emit(EngineError("the engine failed on this request"))

    def _shutdown(self) -> None:
        error = EngineUnavailable("the server is shutting down")
        self.batch.fail(error)
        with self._cond:
            while self._waiting:
                self._waiting.popleft().emit(error)


def _eos_ids(mole: Any) -> set[int]:
    """Tokens that end an answer: what ``MoLE.generate`` cuts at, and the generation config's EOS."""
    tokenizer = mole.tokenizer
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    config = getattr(mole.model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    ids |= set(eos) if isinstance(eos, (list, tuple)) else {eos}
    return {int(i) for i in ids if i is not None}
