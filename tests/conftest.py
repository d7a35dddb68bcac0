"""Shared fixtures: adapters for the tiny base, registries, the CLI.

``tiny_base``, ``register_plugin``, ``tiny_registry`` and ``mole_cli`` come from :mod:`mole_core.testing`
(loaded by ``-p mole_core.testing`` in pyproject's addopts), the fixtures plugin authors use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny models run far faster on one thread, and CLI subprocesses inherit this; on a shared 2-core
# machine two threads per process were measured ~40x slower for the tiny Llama.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tiny import build_tiny_llama, make_adapter  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def other_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny Llama with another hidden size: adapters for it must not fit ``tiny_base``."""
    return build_tiny_llama(tmp_path_factory.mktemp("models") / "other-llama", hidden=96)


@pytest.fixture(scope="session")
def adapter_factory(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(rank=4, seed=1, base=tiny_base) -> adapter directory, cached per arguments."""
    cache: dict[tuple, Path] = {}
    root = tmp_path_factory.mktemp("adapters")

    def make(rank: int = 4, seed: int = 1, base: Path | None = None, **kw) -> Path:
        key = (rank, seed, str(base or tiny_base), tuple(sorted(kw.items())))
        if key not in cache:
            out = root / f"r{rank}-s{seed}-{len(cache)}"
            cache[key] = make_adapter(base or tiny_base, out, rank=rank, seed=seed, **kw)
        return cache[key]

    return make


@pytest.fixture
def registry(tiny_registry):  # noqa: ANN001, ANN201
    return tiny_registry


@pytest.fixture
def copy_adapter(tmp_path: Path) -> Callable[[Path], Path]:
    """A writable copy of an adapter directory, for tests that tamper with files."""

    def copy(src: Path) -> Path:
        dst = tmp_path / f"copy-{src.name}"
        shutil.copytree(src, dst)
        return dst

    return copy


def run_mole(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the real ``mole`` CLI in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mole_core", *args], capture_output=True, text=True, env=full_env, cwd=cwd
    )


@pytest.fixture
def mole() -> Callable[..., subprocess.CompletedProcess]:
    return run_mole


@pytest.fixture
def cli(mole_cli):  # noqa: ANN001, ANN201
    """Invoke the CLI in-process with click's runner: fast, for most command tests."""
    return mole_cli


@pytest.fixture
def two_experts(registry, adapter_factory):  # noqa: ANN001, ANN201
    """Plugin experts ``reasoning`` (GSM8K) and ``factoid`` (WikiText factoids) with random adapters."""
    registry.add_expert("reasoning", adapter_factory(rank=4, seed=1), plugin="mole_plugins.experts")
    registry.add_expert("factoid", adapter_factory(rank=2, seed=2), plugin="mole_plugins.experts")
    return registry
