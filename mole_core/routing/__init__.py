"""Routing: the :class:`Router` interface plugins implement, loading a registry's router, routing data,
evaluation and training.

Routers know expert *names* (their ``labels``), never indices baked into code. :mod:`.base` is the
interface, :mod:`.load` picks and checks the router a registry uses, :mod:`.data` synthesizes
routing sets, :mod:`.evaluate` measures a router and :mod:`.train` trains and records one.
"""

from __future__ import annotations

from ..progress import Progress
from .base import CONFIG_FILE, WEIGHTS_FILE, FixedRouter, Route, Router, read_config, write_config
from .calibrate import BASE, calibrate, decide, fit_temperature
from .evaluate import LabelledQuery, Mistake, RoutingReport, evaluate_routing, read_labelled_file
from .load import build_embedding_router, extend_with_new_experts, load_router, verify_router_files
from .train import RouterReport, save_router, train_router

__all__ = [
    "BASE",
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "FixedRouter",
    "LabelledQuery",
    "Mistake",
    "Progress",
    "Route",
    "Router",
    "RouterReport",
    "RoutingReport",
    "build_embedding_router",
    "calibrate",
    "decide",
    "fit_temperature",
    "evaluate_routing",
    "extend_with_new_experts",
    "load_router",
    "read_config",
    "read_labelled_file",
    "save_router",
    "train_router",
    "verify_router_files",
    "write_config",
]
