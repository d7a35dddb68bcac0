"""Prometheus metrics of one server, in their own registry (two apps in a process never mix figures)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServeMetrics:
    """Requests, tokens, latency, time to first token, queue depth, batch sizes, per-expert counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mole_requests",
            "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=r,
        )
        self.expert_requests = Counter(
            "mole_expert_requests", "Requests served, by the expert that answered.", ["expert"], registry=r
        )
        self.prompt_tokens = Counter("mole_prompt_tokens", "Prompt tokens of served requests.", registry=r)
        self.completion_tokens = Counter(
            "mole_completion_tokens", "Generated tokens, by expert.", ["expert"], registry=r
        )
        self.latency = Histogram(
            "mole_request_latency_seconds",
            "From request to last token.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "mole_time_to_first_token_seconds",
            "From request to the first generated token.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("mole_queue_depth", "Requests waiting for a batch row.", registry=r)
        self.running = Gauge("mole_running_requests", "Requests in the running batch.", registry=r)
        self.batch_size = Histogram(
            "mole_batch_size", "Rows in each decode step.", buckets=BATCH_BUCKETS, registry=r
        )
        self.abandoned = Counter(
            "mole_abandoned_rows", "Batch rows freed before their answer ended (client gone).", registry=r
        )
        self.disconnects = Counter(
            "mole_client_disconnects", "Requests whose client left before the answer ended.", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
