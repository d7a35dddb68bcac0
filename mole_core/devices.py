"""Which torch device the runtime runs on: ``auto`` (a GPU when there is one), ``cpu``, ``cuda[:N]``, ``mps``.

A machine setting, not a registry property: the same registry serves a laptop and a GPU server, so the
device is chosen per process (``--device``, ``MOLE_DEVICE``, or ``auto``), never written to a manifest.
Routers stay on the CPU: they are small and batch well there.
"""

from __future__ import annotations

import os
import re

from .errors import MoleError

ENV = "MOLE_DEVICE"
AUTO = "auto"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(name: str | None = None) -> str:
    """A concrete device string for ``name`` (None: ``$MOLE_DEVICE``, else ``auto``).

    ``auto`` is the first CUDA GPU, else Apple's MPS, else the CPU. Asking for a device this machine
    lacks is an error naming it, not a silent fallback: a user who asked for a GPU wants to know.
    """
    import torch

    requested = (name or os.environ.get(ENV) or AUTO).strip().lower()
    if not _PATTERN.match(requested):
        raise MoleError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps")
    if requested == AUTO:
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MoleError(
                f"device {requested!r} asked for, but torch {torch.__version__} sees no CUDA GPU here"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise MoleError(
                f"device {requested!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)"
            )
    if requested == "mps" and not _mps_available():
        raise MoleError("device 'mps' asked for, but torch sees no Apple GPU (MPS) here")
    return requested


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def synchronize(device: str) -> None:
    """Wait for queued GPU work (timings must not stop the clock before the GPU has finished)."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()
