"""Every router file is covered by a sha256 (config.json included), router configs are bounded before any
plugin reads them, and a retrained router replaces the old one in one manifest switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w

from mole_core import MoleError, Registry, plugins
from mole_core.routing import load_router, save_router

LABELS = ["reasoning", "factoid"]


@pytest.fixture
def routed(registry: Registry, adapter_factory) -> Registry:  # noqa: ANN001
    for seed, name in enumerate(LABELS, 1):
        registry.add_expert(name, adapter_factory(rank=4, seed=seed))
    router = plugins.get_router_spec("embedding").build(
        LABELS, examples={"reasoning": ["Solve x + 1 = 2"], "factoid": ["Who wrote Hamlet?"]}
    )
    save_router(registry, router)
    return registry


def _router_dir(registry: Registry) -> Path:
    return registry.router_dir(registry.load().router)


def test_every_router_file_is_recorded_and_checked(routed: Registry) -> None:
    entry = routed.load().router
    assert set(entry.files) == {"config.json", "model.safetensors"}
    assert entry.sha256 == entry.files["model.safetensors"]
    directory = _router_dir(routed)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "temperature": 0.5}))
    with pytest.raises(MoleError, match=r"checksum mismatch on .*config\.json"):
        load_router(routed)
    assert any("config.json" in str(p) for p in routed.validate())
    (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    assert routed.validate() == []
    (directory / "extra.bin").write_bytes(b"planted")
    with pytest.raises(MoleError, match="not a file the manifest records"):
        load_router(routed)


def _legacy(registry: Registry) -> None:
    """A manifest as pulled from a hostile repo, or written before per-file checksums: no `files`."""
    import tomllib

    data = tomllib.loads(registry.manifest_path.read_text())
    data["router"].pop("files")
    registry.manifest_path.write_text(tomli_w.dumps(data))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"temperature": 1e300}, "temperature = 1e+300 is out of bounds"),
        ({"top_k": 10**12}, "top_k = 1000000000000 is out of bounds"),
        ({"labels": "reasoning"}, "labels: Input should be a valid list"),
        ({"labels": ["Bad Name"]}, "labels.0"),
        ({"kind": None}, "kind"),
        ({"temperature": None}, "cannot be loaded (TypeError"),
    ],
)
def test_hostile_router_config_is_one_line(routed: Registry, change: dict, message: str) -> None:
    _legacy(routed)
    directory = _router_dir(routed)
    config = json.loads((directory / "config.json").read_text())
    config.update(change)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(MoleError, match=message.replace("(", r"\(").replace("+", r"\+")) as info:
        load_router(routed)
    assert "\n" not in str(info.value)


def test_missing_config_key_is_one_line(routed: Registry) -> None:
    _legacy(routed)
    directory = _router_dir(routed)
    config = json.loads((directory / "config.json").read_text())
    del config["temperature"]
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(MoleError, match=r"cannot be loaded \(KeyError: 'temperature'\)"):
        load_router(routed)


def test_a_model_config_bigger_than_its_weights_is_refused_before_allocating(
    registry: Registry, adapter_factory, tmp_path: Path
) -> None:
    """The reported attack: a pulled bert config that made `route` allocate 9.8 GB."""
    import tracemalloc

    for seed, name in enumerate(LABELS, 1):
        registry.add_expert(name, adapter_factory(rank=4, seed=seed))
    save_router(registry, plugins.get_router_spec("bert-tiny").build(LABELS, seed=0, init="random"))
    _legacy(registry)
    directory = _router_dir(registry)
    config = json.loads((directory / "config.json").read_text())
    config["bert_config"]["hidden_size"] = 40960
    config["bert_config"]["intermediate_size"] = 163840
    (directory / "config.json").write_text(json.dumps(config))
    tracemalloc.start()
    with pytest.raises(MoleError, match="describes a model of .* GB, but model.safetensors holds"):
        load_router(registry)
    assert tracemalloc.get_traced_memory()[1] < 200e6
    tracemalloc.stop()
    del config["bert_config"]["hidden_size"]  # a missing key means BERT-base's 768: still too big
    config["bert_config"]["intermediate_size"] = 3072
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(MoleError, match="describes a model of"):
        load_router(registry)


def test_retraining_switches_to_a_new_directory_and_removes_the_old(routed: Registry) -> None:
    first = routed.load().router.path
    router = plugins.get_router_spec("embedding").build(
        LABELS, examples={"reasoning": ["What is 2 + 2?"], "factoid": ["Capital of Peru?"]}
    )
    entry = save_router(routed, router)
    assert entry.path != first and entry.path.startswith("routers/embedding@")
    assert not (routed.root / first).exists()
    assert routed.validate() == [] and routed.leftovers() == []
    assert load_router(routed).route(["What is 3 + 5?"])[0].expert == "reasoning"
    entry = save_router(routed, router)
    assert entry.path == "routers/embedding"  # the plain name is free again
