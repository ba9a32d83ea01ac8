"""Learning-rate schedule (warm-up, then cosine / plateau / constant) and an EMA of weights.

Learning rate at optimiser step t (0-based) of T, peak lr_0, warm-up W = round(f_w * T):

    warm-up   lr = lr_0 * (t + 1) / W                            for t < W
    cosine    lr = lr_0 * (r + (1 - r) * (1 + cos(pi * (t - W) / (T - W))) / 2)
    plateau   lr = lr_0 * factor^k, k = number of reductions so far (patience in epochs)
    constant  lr = lr_0

EMA: theta_ema <- d_t * theta_ema + (1 - d_t) * theta, with d_t = min(d, (1 + n) / (10 + n))
after n updates (a short ramp so early averages are not dominated by the initial weights).
Both are plain functions of saved state, so a resumed run reproduces them exactly.
"""

from __future__ import annotations

import math

import torch


class LRSchedule:
    """Sets ``optimizer``'s learning rate every step; ``epoch_end(metric)`` drives plateau."""

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, total_steps: int,
                 kind: str = "cosine", warmup_fraction: float = 0.05,
                 min_lr_ratio: float = 0.01, plateau_factor: float = 0.5,
                 plateau_patience: int = 3) -> None:
        self.optimizer = optimizer
        self.lr0 = float(lr)
        self.total = max(int(total_steps), 1)
        self.kind = kind
        self.warmup = int(round(warmup_fraction * self.total))
        self.min_ratio = float(min_lr_ratio)
        self.factor = float(plateau_factor)
        self.patience = int(plateau_patience)
        self.reductions = 0
        self.best = math.inf
        self.bad_epochs = 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup:
            return self.lr0 * (step + 1) / self.warmup
        if self.kind == "cosine":
            span = max(self.total - self.warmup, 1)
            t = min(max(step - self.warmup, 0) / span, 1.0)
            return self.lr0 * (self.min_ratio + (1 - self.min_ratio) * 0.5
                               * (1 + math.cos(math.pi * t)))
        if self.kind == "plateau":
            return self.lr0 * self.factor ** self.reductions
        return self.lr0

    def set_step(self, step: int) -> float:
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def epoch_end(self, metric: float) -> None:
        """Plateau bookkeeping on the monitored validation metric (lower is better)."""
        if self.kind != "plateau":
            return
        if metric < self.best - 1e-12:
            self.best, self.bad_epochs = metric, 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs > self.patience:
                self.reductions += 1
                self.bad_epochs = 0

    def state_dict(self) -> dict:
        return {"reductions": self.reductions, "best": self.best,
                "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict) -> None:
        self.reductions = int(state["reductions"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


class EMA:
    """Exponential moving average of a module's floating-point parameters and buffers."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, module: torch.nn.Module) -> None:
        module.load_state_dict(self.shadow)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {k: v.cpu() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        device = next(iter(self.shadow.values())).device if self.shadow else "cpu"
        self.shadow = {k: v.to(device).clone() for k, v in state["shadow"].items()}
