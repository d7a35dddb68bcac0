"""Starting a real vLLM from `mole export vllm` and `mole serve --engine-url` before it, on loopback.

Shared by the real-vLLM test tier (tests/test_vllm_engine.py) and the vLLM serving benchmark
(benchmarks/bench_vllm.py). vLLM runs from ``$MOLE_VLLM_PYTHON`` (or this python when it imports vllm),
offline (``HF_HUB_OFFLINE=1``) with ``VLLM_CPU_KVCACHE_SPACE=1`` GB unless the caller's env says more.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free port drawn at random from 20000-60000: several jobs on one machine asking the OS for
    ephemeral ports get neighbouring ones, and a port freed here is soon someone else's."""
    import random
    import socket

    for _ in range(100):
        port = random.randint(20000, 60000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def vllm_python() -> str | None:
    """A python that can import vLLM: this one, or ``$MOLE_VLLM_PYTHON``."""
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    configured = os.environ.get("MOLE_VLLM_PYTHON")
    return configured if configured and Path(configured).is_file() else None


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float, expect: str) -> None:
    """Poll ``url``/v1/models until it lists ``expect`` (so another server that took the port on a
    shared machine is never mistaken for ours); raise with the log's tail if the process dies."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{url} exited with {process.returncode} before it was ready:\n{tail}")
        try:
            response = httpx.get(url + "/v1/models", timeout=5)
            if response.status_code == 200 and expect in {m.get("id") for m in response.json()["data"]}:
                return
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        time.sleep(2)
    raise RuntimeError(f"{url} was not ready within {timeout:.0f} s (log: {log})")


def stop(process: subprocess.Popen) -> None:
    """Stop the process group we started (SIGTERM, then SIGKILL after 30 s)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str], timeout: float, expect: str) -> Iterator[str]:
    port = cmd[cmd.index("--port") + 1]
    with open(log, "w") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log, timeout, expect)
        yield url
    finally:
        stop(process)


@contextmanager
def vllm_engine(
    registry_dir: Path, python: str, log: Path, timeout: float
) -> Iterator[tuple[dict[str, Any], str]]:
    """vLLM serving the registry, started from `mole export vllm --json`; yields (export JSON, base URL)."""
    port = str(free_port())
    exported = subprocess.run(
        [sys.executable, "-m", "mole_core", "export", "vllm", "--registry", str(registry_dir), "--json"]
        + ["--python", python, "--", "--host", "127.0.0.1", "--port", port],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(exported.stdout)
    env = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", **os.environ}
    env.pop("OMP_NUM_THREADS", None)  # vLLM sizes its own CPU threads
    with _process(data["command"], log, env, timeout, data["lora_modules"][0]["name"]) as url:
        yield data, url


@contextmanager
def mole_front(registry_dir: Path, engine_url: str, log: Path, timeout: float = 300) -> Iterator[str]:
    """`mole serve --engine-url` in front of ``engine_url`` (``http://host:port``); yields its base URL."""
    cmd = [sys.executable, "-m", "mole_core", "serve", "--registry", str(registry_dir)]
    cmd += ["--engine-url", engine_url + "/v1", "--port", str(free_port())]
    with _process(cmd, log, dict(os.environ), timeout, "auto") as url:
        yield url
