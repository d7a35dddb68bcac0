"""Installing and removing plugins in MoLE's own environment, the way ``llm install`` does.

pip runs as ``sys.executable -m pip``, so a plugin lands next to the ``mole`` that will load it, whatever
environment that is (a venv, pipx, the system). pip's own output is the progress; pip's settings
(``PIP_INDEX_URL``, ``PIP_TARGET``, a ``pip.conf``) apply as usual.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from .errors import MoleError

SELF = "mole-lora"


class InstallError(MoleError):
    """pip could not install or remove what was asked."""


def _pip(args: Sequence[str]) -> None:
    command = [sys.executable, "-m", "pip", *args]
    try:
        result = subprocess.run(command, check=False)
    except OSError as exc:
        raise InstallError(f"cannot run pip with {sys.executable}: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        raise InstallError(f"pip {args[0]} failed (exit {result.returncode}): see pip's messages above")


def install(
    packages: Sequence[str],
    *,
    upgrade: bool = False,
    editable: str | None = None,
    force_reinstall: bool = False,
    no_cache_dir: bool = False,
    pre: bool = False,
) -> None:
    """``pip install`` PyPI names, paths or URLs (and ``editable``, a local directory) into this environment."""
    if not packages and editable is None:
        raise InstallError("name at least one package, path or URL to install (or --editable DIR)")
    flags = [
        flag
        for flag, wanted in (
            ("--upgrade", upgrade),
            ("--force-reinstall", force_reinstall),
            ("--no-cache-dir", no_cache_dir),
            ("--pre", pre),
        )
        if wanted
    ]
    _pip(["install", *flags, *(["--editable", editable] if editable else []), *packages])


def uninstall(packages: Sequence[str], *, yes: bool = False) -> None:
    """``pip uninstall`` plugins from this environment; ``yes`` skips pip's confirmation."""
    if not packages:
        raise InstallError("name at least one package to uninstall")
    if any(name.lower().replace("_", "-") == SELF for name in packages):
        raise InstallError(f"{SELF} is MoLE itself: uninstall it with pip, not with mole")
    _pip(["uninstall", *(["--yes"] if yes else []), *packages])
