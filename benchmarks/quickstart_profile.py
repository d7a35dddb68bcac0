"""Where the quickstart's time and memory go, stage by stage (issue #17 item 13).

Runs :func:`mole_plugins.paper.quickstart.run` on a fresh directory and samples the process's resident
memory every 0.2 s: per stage, the wall time, the RSS at its end and the highest RSS seen during it.
The spawned child that measures memory (``measure_fresh``) is sampled too (its own peak).

    python -m benchmarks.quickstart_profile /tmp/qs-profile --steps 1 --limit 16 --router-size 500 --n-texts 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time

import psutil


class Sampler(threading.Thread):
    """Peak RSS of this process and, separately, of its children, since the last :meth:`cut`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.me = psutil.Process()
        self.peak = self.child_peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, self.me.memory_info().rss)
            for child in self.me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.child_peak = max(self.child_peak, child.memory_info().rss)

    def cut(self) -> tuple[int, int]:
        out = (self.peak, self.child_peak)
        self.peak = self.me.memory_info().rss
        self.child_peak = 0
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--router-size", type=int, default=10_000)
    parser.add_argument("--n-texts", type=int, default=16)
    parser.add_argument("--full-models", type=int, default=2)
    args = parser.parse_args()

    from mole_plugins.paper.quickstart import QuickstartSettings, run

    settings = QuickstartSettings(
        steps=args.steps,
        limit=args.limit,
        router_size=args.router_size,
        eval_texts=args.n_texts,
        full_models=args.full_models,
    )
    sampler = Sampler()
    sampler.start()
    rows: list[dict] = []
    current = {"stage": "start", "t": time.perf_counter()}

    def close(next_stage: str) -> None:
        peak, child = sampler.cut()
        now = time.perf_counter()
        rows.append(
            {
                "stage": current["stage"],
                "seconds": round(now - current["t"], 1),
                "rss_end_gb": round(psutil.Process().memory_info().rss / 1e9, 3),
                "peak_gb": round(peak / 1e9, 3),
                "child_peak_gb": round(child / 1e9, 3),
            }
        )
        current.update(stage=next_stage, t=now)

    def on_event(event) -> None:  # noqa: ANN001
        if event.stage != current["stage"]:
            close(event.stage)

    started = time.perf_counter()
    run(args.directory, settings, on_event=on_event)
    close("done")
    sampler.stop.set()
    print(
        json.dumps(
            {
                "settings": vars(args),
                "total_seconds": round(time.perf_counter() - started, 1),
                "stages": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
