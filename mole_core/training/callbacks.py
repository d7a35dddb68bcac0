"""``TrainerCallback``s a run adds: divergence guard, lr on resume, progress through logging."""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger("mole_core.training")


def _trainer_callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class DivergenceGuard(_trainer_callback_base()):  # type: ignore[misc]
    """Stops training on a NaN/inf or exploding loss, before a checkpoint of bad weights is saved.

    The loss logged at step N is computed with the weights after step N-1, so a checkpoint at step S
    is proven good only once step S+1 logged a healthy loss: ``good_before`` is that bound.
    """

    def __init__(self, max_loss: float = 1e4, factor: float = 100.0) -> None:
        self.max_loss = max_loss
        self.factor = factor
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.good_before = 0
        self.diverged: dict[str, Any] | None = None

    def check(self, loss: float, grad_norm: float | None) -> str | None:
        """Why this loss means divergence, or None."""
        if not math.isfinite(loss):
            return f"loss is {loss}"
        if loss > self.max_loss:
            return f"loss {loss:.4g} exceeds {self.max_loss:g}"
        if self.first_loss is not None and self.first_loss > 0 and loss > self.factor * self.first_loss:
            return f"loss {loss:.4g} is over {self.factor:g}x the first logged loss {self.first_loss:.4g}"
        if grad_norm is not None and not math.isfinite(grad_norm):
            return f"gradient norm is {grad_norm}"
        return None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.good_before = max(self.good_before, state.global_step + 1)  # a resumed-from checkpoint was good

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if not logs or "loss" not in logs or self.diverged is not None:
            return
        loss = float(logs["loss"])
        grad = logs.get("grad_norm")
        reason = self.check(loss, None if grad is None else float(grad))
        if reason is None:
            self.first_loss = loss if self.first_loss is None else self.first_loss
            self.last_loss = loss
            self.good_before = state.global_step
            return
        if math.isfinite(loss) and grad is not None and not math.isfinite(float(grad)):
            self.good_before = state.global_step  # the loss was fine: the weights before this step were too
        self.diverged = {"step": state.global_step, "loss": loss, "reason": reason}
        control.should_training_stop = True
        control.should_save = False


class ResumeLearningRate(_trainer_callback_base()):  # type: ignore[misc]
    """On resume, apply the requested peak lr: the checkpoint's scheduler would otherwise restore the old one.

    Lowering ``--lr`` is the usual answer to a divergence, so it must take effect on ``--resume``.
    """

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        scheduler, optimizer = kwargs.get("lr_scheduler"), kwargs.get("optimizer")
        if state.global_step == 0 or scheduler is None or optimizer is None:
            return
        lambdas = getattr(scheduler, "lr_lambdas", None)
        if not lambdas or all(math.isclose(b, self.lr) for b in scheduler.base_lrs):
            return
        log.info("resuming with peak lr %g instead of the checkpoint's %g", self.lr, scheduler.base_lrs[0])
        scheduler.base_lrs = [self.lr] * len(scheduler.base_lrs)
        for group, factor in zip(optimizer.param_groups, lambdas, strict=False):
            group["initial_lr"] = self.lr
            group["lr"] = self.lr * factor(scheduler.last_epoch)
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what the Trainer logs


class LogProgress(_trainer_callback_base()):  # type: ignore[misc]
    """Logs each step's loss, grad norm and lr through :mod:`logging` (the library never prints)."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if logs and "loss" in logs:
            log.info(
                "step %d/%d loss %.4f grad_norm %s lr %.3g",
                state.global_step,
                state.max_steps,
                logs["loss"],
                _fmt(logs.get("grad_norm")),
                logs.get("learning_rate", float("nan")),
            )


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"
