"""lm-eval's own command line with MoLE's model registered under the name ``mole``.

    python -m mole_core.harness --model mole --model_args registry=DIR[,expert=NAME|base][,top_k=K] \\
        --tasks mole_gsm8k_mc --limit 20

lm-eval finds models only in its own registry and has no plugin discovery for them, so its ``lm-eval``
script cannot load ``mole``; this entry point imports MoLE's model first, then hands over to lm-eval.
Without ``--include_path`` it points lm-eval at the task folders the built-in plugins ship; without
``--device``, MoLE's own choice (``$MOLE_DEVICE``, else auto) replaces lm-eval's default of ``cuda:0``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    from . import model  # noqa: F401 - registers "mole" with lm-eval
    from .run import bundled_task_paths

    paths = bundled_task_paths()
    if paths and "--include_path" not in sys.argv and len(sys.argv) > 1:
        root = os.path.commonpath([str(p) for p in paths])  # lm-eval takes one folder and searches below it
        sys.argv += ["--include_path", root if len(paths) > 1 and root.count(os.sep) > 2 else str(paths[0])]
    if "--device" not in sys.argv and len(sys.argv) > 1:
        sys.argv += ["--device", os.environ.get("MOLE_DEVICE") or "auto"]
    cli_evaluate()


if __name__ == "__main__":
    main()
