"""What a pushed expert or registry says about itself: ``mole-expert.json`` and the model cards."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from ..adapters import WEIGHTS_NAME
from ..errors import AdapterError, MoleError
from ..manifest import MANIFEST_NAME, SHA256_PATTERN, ExpertEntry, Manifest
from .client import is_repo_id

EXPERT_META = "mole-expert.json"
CARD_NAME = "README.md"
META_VERSION = 1
EXPERT_TAGS = ["mole", "mole-expert", "lora", "peft"]
REGISTRY_TAGS = ["mole", "mole-registry", "lora", "peft"]


def _hub_model_id(base: str) -> str | None:
    """``base`` when it reads as a Hub model id; None for local paths (the Hub refuses those as base_model)."""
    if base.startswith((".", "~", "/")) or "\\" in base or Path(base).is_absolute() or Path(base).exists():
        return None
    return base if is_repo_id(base) else None


def _display_base(base: str) -> str:
    return _hub_model_id(base) or PurePosixPath(base.replace("\\", "/").rstrip("/")).name or base


def expert_metadata(entry: ExpertEntry) -> dict[str, Any]:
    """The manifest entry as published in ``mole-expert.json``: no local path, no hub location."""
    data = entry.model_dump(mode="json", exclude_none=True, exclude={"path", "hub", "updated_at"})
    if not _hub_model_id(entry.base_model):
        data["base_model"] = _display_base(entry.base_model)
    return {"mole_expert_version": META_VERSION, **data}


def _yaml_front_matter(data: dict[str, Any]) -> str:
    import yaml

    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


#: Licences of base models MoLE knows by id (the embedded default); others are left for the user.
KNOWN_BASE_LICENSES = {"huggingfacetb/smollm2-135m-instruct": "apache-2.0"}


def project_link() -> str:
    """MoLE as a Markdown link to the URL its package metadata declares, else its package name."""
    from importlib import metadata

    try:
        meta = metadata.metadata("mole-lora")
    except metadata.PackageNotFoundError:
        return "MoLE (Mixture of LoRA Experts)"
    urls = [u.split(",", 1)[-1].strip() for u in meta.get_all("Project-URL") or []] + [meta.get("Home-page")]
    url = next((u for u in urls if u and u.startswith("https://")), None)
    return f"[MoLE]({url})" if url else "MoLE (Mixture of LoRA Experts, Python package `mole-lora`)"


def _dataset(entry: ExpertEntry) -> Any:
    """The dataset spec the expert was trained on (its training record, else its plugin spec's)."""
    from .. import plugins

    name = entry.training.dataset if entry.training and entry.training.dataset else None
    if name is None and entry.plugin:
        spec = plugins.get_expert_spec(entry.name)
        name = spec.dataset if spec is not None and spec.plugin == entry.plugin else None
    try:
        return plugins.get_dataset_spec(name) if name else None
    except MoleError:
        return None


def expert_card(entry: ExpertEntry, repo_id: str | None = None) -> str:
    """The expert's model card (``README.md``): Hub metadata (base model, licence and datasets where
    known) and what the adapter is. Written into the expert's folder at registration, so uploading
    that folder with any Hub tool publishes it; ``mole push`` uploads the same card, naming the repo."""
    from huggingface_hub import ModelCard, ModelCardData

    dataset = _dataset(entry)
    data = ModelCardData(
        base_model=_hub_model_id(entry.base_model),
        library_name="peft",
        pipeline_tag="text-generation",
        tags=EXPERT_TAGS,
        license=KNOWN_BASE_LICENSES.get(entry.base_model.lower()),
        datasets=[dataset.hub_id] if dataset is not None and dataset.hub_id else None,
        task=entry.task or "",
        rank=entry.rank,
        lora_alpha=entry.alpha,
    )
    repo = repo_id or (entry.hub.repo_id if entry.hub else None)
    lines = [
        f"# {entry.name}: a MoLE expert",
        "",
        f"A LoRA adapter (rank {entry.rank}, alpha {entry.alpha:g}) for `{_display_base(entry.base_model)}`, "
        f"registered with {project_link()}.",
        "",
    ]
    if entry.task:
        lines += [f"**Task:** {entry.task}", ""]
    lines += [
        f"- target modules: {', '.join(f'`{m}`' for m in entry.target_modules)}",
        f"- sha256 of `{WEIGHTS_NAME}`: `{entry.sha256}`",
        f"- prompt template: `{entry.prompt_template}`",
    ]
    if entry.plugin:
        lines.append(f"- plugin: `{entry.plugin}`")
    if dataset is not None:
        licence = f", licence {dataset.license}" if dataset.license else ""
        lines.append(f"- data: `{dataset.hub_id or dataset.name}`{licence}")
    lines += _training_lines(entry)
    if entry.examples:
        lines += ["", "Example queries:", ""] + [f"- {e}" for e in entry.examples[:8]]
    lines += _usage_lines(entry.name, repo)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines)))


def _training_lines(entry: ExpertEntry) -> list[str]:
    if entry.training is None:
        return []
    t = entry.training
    fields = (
        ("dataset", t.dataset),
        ("examples", t.examples),
        ("steps", t.steps),
        ("final loss", t.final_loss),
    )
    parts = [f"{k} {v}" for k, v in fields if v is not None]
    return [f"- training: {', '.join(parts)}"] if parts else []


def _usage_lines(name: str, repo: str | None) -> list[str]:
    where = repo or "REPO_ID"
    return [
        "",
        "## Use it",
        "",
        "```bash",
        f"mole add-expert {name} --hub {where}",
        "```",
        "",
        "or with PEFT alone:",
        "",
        "```python",
        "from peft import PeftModel",
        f'model = PeftModel.from_pretrained(base_model, "{where}")',
        "```",
        "",
        f"`{EXPERT_META}` holds the MoLE manifest entry; `mole pull` checks the weights against its sha256.",
        "",
    ]


def registry_card(manifest: Manifest, repo_id: str) -> str:
    """The README of a whole-registry repo: base model, experts, router, how to install."""
    meta: dict[str, Any] = {}
    hub_base = _hub_model_id(manifest.base.id)
    if hub_base:
        meta["base_model"] = hub_base
    meta.update(library_name="peft", tags=REGISTRY_TAGS)
    lines = [
        _yaml_front_matter(meta),
        "# A MoLE registry",
        "",
        f"Base model `{_display_base(manifest.base.id)}` with {len(manifest.experts)} LoRA experts"
        + (f" and a `{manifest.router.name}` router." if manifest.router else "."),
        "",
        "| expert | rank | task |",
        "|---|---|---|",
    ]
    lines += [f"| {e.name} | {e.rank} | {e.task or '-'} |" for e in manifest.experts]
    lines += [
        "",
        "## Install",
        "",
        "```bash",
        f"mole pull-registry {repo_id} my-registry",
        "```",
        "",
        f"`{MANIFEST_NAME}` lists every file's sha256; `mole pull-registry` verifies them all before installing.",
        "",
    ]
    return "\n".join(lines)


def _read_metadata(path: Path, repo_id: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdapterError(f"{EXPERT_META} in {repo_id} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: expected a JSON object")
    sha = data.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not re.fullmatch(SHA256_PATTERN, sha)):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: sha256 must be 64 hex digits")
    examples = data.get("examples")
    if examples is not None and (
        not isinstance(examples, list) or not all(isinstance(e, str) for e in examples)
    ):
        raise AdapterError(f"{EXPERT_META} in {repo_id}: examples must be a list of strings")
    for key in ("name", "task", "plugin", "base_model"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise AdapterError(f"{EXPERT_META} in {repo_id}: {key} must be a string")
    return data
