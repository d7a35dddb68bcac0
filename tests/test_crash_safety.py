"""Crash safety and concurrency of registry writes: SIGKILL at random moments, many writers at once."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from mole_core import Registry

pytest_plugins = ["hub_fixtures"]

ADD_KILL_TRIALS = 30


def _assert_consistent(registry: Registry) -> list[str]:
    manifest = registry.load()  # always parses
    assert registry.validate() == [], registry.validate()  # lists only complete experts
    return manifest.names()


def test_sigkill_during_add_and_remove_never_corrupts(registry: Registry, adapter_factory) -> None:
    rng = random.Random(1234)
    adapters = [adapter_factory(rank=4, seed=s) for s in range(3)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    survived = 0
    for trial in range(ADD_KILL_TRIALS):
        names = _assert_consistent(registry)
        if names and rng.random() < 0.3:
            args = ["remove-expert", rng.choice(names), "--yes"]
        else:
            args = ["add-expert", f"e{trial}", "--adapter", str(rng.choice(adapters))]
        proc = subprocess.Popen(
            [sys.executable, "-m", "mole_core", *args, "--registry", str(registry.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(rng.uniform(0.05, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _assert_consistent(registry)
        survived += 1
    assert survived == ADD_KILL_TRIALS
    # The registry still accepts writes afterwards (no stale lock blocks it).
    registry.add_expert("after", adapters[0], replace=True)
    names = _assert_consistent(registry)
    assert "after" in names
    # Whatever the kills left behind is cleaned away without touching a listed expert.
    registry.clean(min_age_s=0)
    assert registry.leftovers() == [] and _assert_consistent(registry) == names


def _worker(root: str, worker: int, adapter: str, ops: int, queue) -> None:  # noqa: ANN001
    registry = Registry(root)
    kept = []
    for j in range(ops):
        name = f"w{worker}-{j}"
        registry.add_expert(name, Path(adapter))
        if j % 3 == 2:  # every third op of a worker removes what it just added
            registry.remove_expert(name)
        else:
            kept.append(name)
    queue.put(kept)


def test_eight_processes_of_25_operations_leave_the_expected_manifest(
    registry: Registry, adapter_factory
) -> None:
    adapter = str(adapter_factory(rank=2))
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(registry.root), i, adapter, 25, queue)) for i in range(8)]
    for p in procs:
        p.start()
    expected = sorted(name for _ in procs for name in queue.get(timeout=300))
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    assert sorted(registry.load().names()) == expected
    assert len(expected) == 8 * (25 - 25 // 3)
    assert registry.validate() == []


TRAIN_KILL_TRIALS = 10
PULL_KILL_TRIALS = 12


def _kill_at_random(args: list[str], delay: float, env: dict[str, str] | None = None) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mole_core", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_during_train_expert_never_lists_a_half_trained_expert(
    registry: Registry, tmp_path: Path
) -> None:
    import json

    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"{i}+{i}=", "completion": str(2 * i)}) + "\n" for i in range(40))
    )
    rng = random.Random(7)
    args = [
        "train-expert",
        "adder",
        "--data",
        str(data),
        "--max-steps",
        "6",
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--max-length",
        "32",
        "--lr",
        "1e-3",
        "--registry",
        str(registry.root),
    ]
    for _ in range(TRAIN_KILL_TRIALS):
        _kill_at_random(args, rng.uniform(0.5, 9.0))
        names = _assert_consistent(registry)
        assert names in ([], ["adder"])
        if names:
            entry = registry.get_expert("adder")
            assert entry.training is not None and entry.training.steps == 6
    # A run after all the kills completes and registers the expert (no stale lock, resumable state).
    done = subprocess.run([sys.executable, "-m", "mole_core", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _assert_consistent(registry) == ["adder"]


def test_sigkill_during_pull_registers_nothing_partial(
    registry: Registry, adapter_factory, tmp_path: Path, request
) -> None:
    env = request.getfixturevalue("hub_env")
    source = Registry.init(tmp_path / "source", base=registry.load().base.id)
    source.add_expert("pulled", adapter_factory(rank=8, seed=9))
    from mole_core.hub import push_expert

    push_expert(source, "pulled", "mole-tester/pulled")
    rng = random.Random(11)
    for trial in range(PULL_KILL_TRIALS):
        name = f"p{trial}"
        _kill_at_random(
            ["pull", "mole-tester/pulled", "--name", name, "--registry", str(registry.root)],
            rng.uniform(0.3, 4.0),
            env=env.env,
        )
        names = _assert_consistent(registry)
        assert set(names) <= {f"p{i}" for i in range(trial + 1)}
