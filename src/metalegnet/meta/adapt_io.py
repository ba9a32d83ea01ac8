"""``metalegnet adapt``: checkpoint + support file -> adapted checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from metalegnet.checkpoint import load_checkpoint, save_checkpoint
from metalegnet.data.io import read_structures
from metalegnet.data.labels import labels_for_task
from metalegnet.data.validate import validate_structures
from metalegnet.errors import CheckpointError, ConfigError
from metalegnet.inference import check_structures
from metalegnet.meta.adapt import (
    SHRUNK_SHIFT,
    AdaptConfig,
    AdaptResult,
    adapt,
    held_out_rmse,
)
from metalegnet.meta.config import INNER_METHODS
from metalegnet.meta.head import adapt_head
from metalegnet.train.losses import LossScales, Objective

#: inner rate of a checkpoint that was not meta-trained
DEFAULT_INNER_LR = 0.01
#: what ``adapt`` does with one support structure (:func:`adapt_checkpoint`)
K1_POLICIES = ("auto", "shrunk", "zero-shot", "source")


def checkpoint_objective(payload: dict) -> tuple[Objective, str, str]:
    """The training objective of a checkpoint (task, energy target, loss scales)."""
    meta = payload.get("metadata") or {}
    task = meta.get("task", "s2ef")
    target = meta.get("energy_target", "total")
    if task not in ("s2e", "s2f", "s2ef"):
        raise CheckpointError(f"adapt supports s2e / s2f / s2ef checkpoints, this one is "
                              f"{task!r}")
    scales = meta.get("loss_scales") or {}
    label = None if task == "s2f" else ("energy" if target == "total" else "e_ads")
    objective = Objective(label, task in ("s2f", "s2ef"),
                          LossScales(float(scales.get("sigma_energy", 1.0)),
                                     float(scales.get("sigma_forces", 1.0))))
    return objective, task, target


def adapt_checkpoint(checkpoint: str | os.PathLike, support: str | os.PathLike,
                     output: str | os.PathLike, steps: int | None = None,
                     lr: float | None = None, step_grid: list[int] | None = None,
                     folds: int = 5, energy_key: str | None = None, task_shift: bool = True,
                     k1_policy: str = "auto", method: str | None = None
                     ) -> tuple[AdaptResult, Path]:
    """Adapt ``checkpoint`` on the structures of ``support`` and write ``output``.

    ``k1_policy``: with a single support structure (no cross-validation possible) shift by
    the James-Stein-shrunk support residual (``shrunk``; needs the checkpoint's error on
    unseen tasks, see :func:`metalegnet.meta.adapt.held_out_rmse`), keep the model
    (``zero-shot``), or take the candidate meta-training chose on the source tasks
    (``source``; see :func:`metalegnet.meta.adapt.small_support_policy`: on WWL-GPR
    CuCo(111) it made k = 1 worse than zero-shot). ``auto`` (the default): ``shrunk``
    where the checkpoint records that error, else ``zero-shot``. No policy is guaranteed
    to beat zero-shot with one structure: see ``benchmarks/results/fewshot_cpu_k1_shrunk``.

    ``method``: ``maml`` (inner steps of eq. 24) or ``ridge-head`` (the closed-form last
    layer of :mod:`metalegnet.meta.head`); default: what the checkpoint was meta-trained
    for (``maml`` for an ordinary checkpoint)."""
    if k1_policy not in K1_POLICIES:
        raise ConfigError(f"k1_policy={k1_policy!r}; choose from {', '.join(K1_POLICIES)}")
    if method not in (None, *INNER_METHODS):
        raise ConfigError(f"method={method!r}; choose from {', '.join(INNER_METHODS)}")
    config = AdaptConfig(steps=steps, lr=lr, folds=folds, task_shift=task_shift,
                         **({"step_grid": list(step_grid)} if step_grid else {}))
    model, payload = load_checkpoint(checkpoint)
    objective, task, target = checkpoint_objective(payload)
    meta = payload.get("metadata") or {}
    meta_info = meta.get("meta") or {}
    method = method or meta_info.get("inner", "maml")
    if method == "ridge-head":
        if objective.energy_label is None:
            raise ConfigError(f"the ridge head needs energies: {checkpoint} is a {task} "
                              "checkpoint; use --method maml")
        if steps is not None or lr is not None or step_grid or not task_shift:
            raise ConfigError("--steps, --lr, --step-grid and --no-task-shift set the inner "
                              "steps of --method maml; the ridge head always fits its shift")
    if not step_grid and meta_info.get("adapt_step_grid"):
        config.step_grid = [int(n) for n in meta_info["adapt_step_grid"]]
    energy_key = energy_key or meta.get("energy_key")
    structures = read_structures(support)
    validate_structures(structures, energy_key=energy_key)
    check_structures(model, structures, source=str(support))
    samples = labels_for_task(structures, task, target, energy_key)
    inner = meta.get("meta", {}).get("inner_lr", DEFAULT_INNER_LR)
    if payload.get("inner_lrs"):
        inner = {n: v.to(next(model.parameters()).dtype) for n, v in
                 payload["inner_lrs"].items()}
    small = ((meta_info.get("small_support") or {}).get("choice")
             if task_shift and k1_policy == "source" else None)
    noise = held_out_rmse(meta) if k1_policy in ("auto", "shrunk") else None
    if k1_policy == "shrunk":
        if noise is None:
            raise ConfigError(f"{checkpoint}: --k1-policy shrunk needs the model's energy "
                              "error on tasks it never trained on, and this checkpoint "
                              "records none (train with --group-by so the validation split "
                              "holds out whole tasks); use --k1-policy zero-shot")
        if method == "ridge-head":
            raise ConfigError("--k1-policy shrunk applies to --method maml")
    if noise is not None and method != "ridge-head" and task_shift:
        small = SHRUNK_SHIFT
    if method == "ridge-head":
        result = adapt_head(model, samples, objective.energy_label,
                            float(meta_info.get("head_lambda", 1.0)), folds,
                            small_support_choice=small,
                            forces=objective.scales if objective.use_forces else None)
    else:
        result = adapt(model, samples, objective, inner, config, small_support_choice=small,
                       small_support_noise=noise)
    metadata = dict(meta)
    metadata["adaptation"] = {**result.summary(), "method": method, "support": str(support),
                              "num_support": len(samples), "base_checkpoint": str(checkpoint)}
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, result.model, payload["model_name"], metadata)
    return result, out
