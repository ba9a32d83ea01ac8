"""``MetaTrainConfig``: every setting of one meta-training run (saved as ``config.yaml``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from metalegnet.config import check_fields, from_dict, load_yaml, save_yaml
from metalegnet.errors import ConfigError
from metalegnet.meta.adapt import DEFAULT_STEP_GRID
from metalegnet.meta.maml import MAMLConfig
from metalegnet.train.config import TrainConfig

#: inner loops: eq. 24's gradient steps, or the closed-form last-layer solve
INNER_METHODS = ("maml", "ridge-head")


@dataclass
class MetaTrainConfig:
    """One meta-training run (MAML over source tasks, eqs. 24-25).

    Attributes:
        data: data source (file, folder, glob or embedded name), or several joined by ``,``.
        group_by: ``info`` keys whose values define a task (e.g. ``[surface, adsorbate]``).
        targets: held-out target tasks, ``KEY=V1+V2;KEY2=...`` (never meta-trained on; the
            leak check refuses a target system in the source); empty: none.
        task / energy_target / energy_key: the labels, as in ``metalegnet train``.
        model / model_config / cutoff: the network, as in ``metalegnet train``.
        init: start from this checkpoint (e.g. an ordinary pretraining) instead of a
            fresh model; its normalisation is kept.
        support / query: structures drawn per task and meta-step (capped by the task size).
        meta_batch: tasks per outer step (|B| of eq. 25).
        meta_steps: outer steps. outer_lr: Adam rate beta. grad_clip: outer gradient norm.
        min_task_size: tasks with fewer structures are left out (need support + query).
        inner_steps / inner_lr / first_order / meta_sgd / task_shift: :class:`MAMLConfig`.
        zero_shot_weight: w of :class:`MAMLConfig`: each task's meta-loss also carries w
            times the unadapted model's query loss, so the meta-trained model stays a good
            zero-shot model, the fallback of ``adapt`` (also with ``ridge-head``).
        seed: model initialisation and task draws (draws of step t depend on (seed, t)
            only, so a resumed run replays an uninterrupted one).
        checkpoint_every: write ``last.pt`` every this many outer steps.
        small_support_draws: one-structure draws per source task, after meta-training, that
            choose what ``adapt`` does with k = 1 (0: always zero-shot there).
        adapt_step_grid: the step counts adaptation chooses from (stored for ``adapt``).
        inner: ``maml`` (eq. 24's gradient steps) or ``ridge-head`` (the closed-form
            last-layer solve of :mod:`metalegnet.meta.head`, energies only; each task of
            an outer step then draws its support size uniformly from 1 .. ``support``).
        head_lambda: initial relative ridge strength lambda_rel of ``ridge-head`` (learned).
    """

    data: str = "wwl-simple"
    group_by: list[str] = field(default_factory=lambda: ["surface", "adsorbate"])
    targets: str = ""
    task: str = "s2e"
    energy_target: str = "adsorption"
    energy_key: str | None = None
    model: str = "legnet-vanilla"
    model_config: dict[str, Any] = field(default_factory=dict)
    cutoff: float = 6.0
    init: str | None = None
    support: int = 5
    query: int = 10
    meta_batch: int = 4
    meta_steps: int = 200
    outer_lr: float = 1e-3
    grad_clip: float = 10.0
    min_task_size: int = 3
    inner_steps: int = 3
    inner_lr: float = 0.01
    first_order: bool = False
    meta_sgd: bool = False
    task_shift: bool = True
    zero_shot_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 20
    small_support_draws: int = 2
    adapt_step_grid: list[int] = field(default_factory=lambda: list(DEFAULT_STEP_GRID))
    inner: str = "maml"
    head_lambda: float = 1.0
    num_threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("support", "query", "meta_batch", "meta_steps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"MetaTrainConfig.{name} must be >= 1, got "
                                  f"{getattr(self, name)}")
        if self.min_task_size < 2:
            raise ConfigError("MetaTrainConfig.min_task_size must be >= 2 (support + query)")
        if not self.outer_lr > 0:
            raise ConfigError(f"MetaTrainConfig.outer_lr must be > 0, got {self.outer_lr}")
        if self.inner not in INNER_METHODS:
            raise ConfigError(f"MetaTrainConfig.inner={self.inner!r}; choose from "
                              f"{', '.join(INNER_METHODS)}")
        if self.inner == "ridge-head":
            if self.task != "s2e":
                raise ConfigError("inner=ridge-head fits energies only: use task s2e")
            if not self.model.startswith("legnet"):
                raise ConfigError(f"inner=ridge-head adapts LegNet's output block; "
                                  f"model {self.model!r} has none")
        if not (self.head_lambda > 0 and math.isfinite(self.head_lambda)):
            raise ConfigError(f"MetaTrainConfig.head_lambda must be > 0, got "
                              f"{self.head_lambda}")
        if not self.group_by:
            raise ConfigError("MetaTrainConfig.group_by needs at least one info key")
        self.maml  # noqa: B018 -- checks the inner-loop settings
        self.train_config  # noqa: B018 -- checks task, model, model_config

    @property
    def maml(self) -> MAMLConfig:
        return MAMLConfig(self.inner_steps, self.inner_lr, self.first_order, self.meta_sgd,
                          self.task_shift, self.zero_shot_weight)

    @property
    def train_config(self) -> TrainConfig:
        """The equivalent ordinary training config (labels, normalisation, model)."""
        return TrainConfig(data=self.data, task=self.task, energy_target=self.energy_target,
                           energy_key=self.energy_key, model=self.model,
                           model_config=dict(self.model_config), cutoff=self.cutoff,
                           group_by=list(self.group_by), drop_unlabelled=True,
                           seed=self.seed, progress=False)


def load_meta_config(path: str, overrides: dict[str, Any] | None = None) -> MetaTrainConfig:
    data = load_yaml(path) if path else {}
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(MetaTrainConfig, data)


def save_meta_config(config: MetaTrainConfig, path) -> None:
    save_yaml(config, path)
