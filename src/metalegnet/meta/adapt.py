"""Few-shot adaptation to a target task that never makes a model worse than zero-shot.

Given a (meta-)trained model theta and a support set S of k labelled structures of the
target task, the adapted model is theta_n of eq. 24 (``n`` inner steps of rate alpha on S,
after the per-task energy reference delta_S of :mod:`metalegnet.meta.maml`).

The number of steps is chosen on the support set itself, by ``folds``-fold
cross-validation (leave-one-out for k <= ``folds``): for every candidate, adapt on the
other folds and score the held-out fold with the training loss; the candidates are
*zero-shot* (no shift, no step) and, with the shift, n in ``step_grid``. The candidate
with the lowest mean held-out loss wins; zero-shot wins ties (``selection="min"``, the
default). ``selection="one-se"``: the best candidate must beat zero-shot by more than one
standard error of their paired per-fold loss differences, mean_f(L_0 - L_c) >
std_f(L_0 - L_c) / sqrt(F), or the model stays zero-shot; the minimum over several noisy
candidates is optimistic, and this asks the support set for evidence before moving the
model. With k < 2 (nothing to hold out) the caller's ``small_support_choice`` decides,
default zero-shot:

* the candidate chosen the same way on one-structure draws of the source tasks at the end
  of meta-training (:func:`small_support_policy`, stored in the checkpoint;
  ``metalegnet adapt --k1-policy source``);
* ``shrunk-shift`` (``--k1-policy shrunk``): the per-task reference delta_S shrunk towards
  zero by the positive-part James-Stein weight (:func:`shrinkage_weight`)
  w = max(0, 1 - s^2 / (k delta_S^2)), with s the energy RMSE (eV) of the model's
  pretraining on validation tasks it never trained on (:func:`held_out_rmse`). A residual
  no larger than a typical unseen-task error is left alone; a much larger one is mostly
  an offset of the task and is removed. Neither carries a guarantee at k = 1.

With ``steps`` fixed (``--steps K``) no cross-validation is run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from metalegnet.config import check_fields
from metalegnet.data.labels import Sample
from metalegnet.errors import ConfigError
from metalegnet.meta.maml import (
    Params,
    exact_higher_derivatives,
    inner_loop,
    samples_graph,
    support_shift,
    task_loss,
)
from metalegnet.train.losses import Objective

ZERO_SHOT = "zero-shot"
#: the k = 1 candidate of the shrunk per-task reference (module docstring)
SHRUNK_SHIFT = "shrunk-shift"
#: candidate step counts of the cross-validation: doubling up to about the budget of plain
#: fine-tuning (30 Adam steps in ``metalegnet bench fewshot``), so adaptation may move the
#: model as far as fine-tuning does when the support set says it should
DEFAULT_STEP_GRID = (0, 1, 2, 4, 8, 16, 32)
#: how cross-validation picks a candidate (module docstring)
SELECTIONS = ("min", "one-se")


@dataclass
class AdaptConfig:
    """Settings of :func:`adapt` (see the module docstring).

    Attributes:
        steps: fixed number of inner steps (no cross-validation); ``None``: choose.
        step_grid: candidate step counts n (with the per-task shift; 0 = shift only).
        folds: cross-validation folds (at most k).
        lr: inner rate alpha; ``None``: the meta-trained one.
        task_shift: fit the per-task energy reference on the support set.
        seed: seed of the fold assignment.
        selection: ``min`` (lowest mean held-out loss) or ``one-se`` (module docstring).
    """

    steps: int | None = None
    step_grid: list[int] = field(default_factory=lambda: list(DEFAULT_STEP_GRID))
    folds: int = 5
    lr: float | None = None
    task_shift: bool = True
    seed: int = 0
    selection: str = "min"

    def __post_init__(self) -> None:
        check_fields(self)
        if self.selection not in SELECTIONS:
            raise ConfigError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.steps is not None and self.steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {self.steps}")
        if any(n < 0 for n in self.step_grid) or not self.step_grid:
            raise ConfigError(f"step_grid={self.step_grid}: expected step counts >= 0")
        if self.folds < 2:
            raise ConfigError(f"folds must be >= 2, got {self.folds}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"the inner learning rate must be > 0, got {self.lr}")


@dataclass
class AdaptResult:
    """The adapted model and how it was chosen.

    ``choice``: ``"zero-shot"``, ``"steps=n"`` or ``"shrunk-shift"``; ``steps``: n;
    ``shift``: delta_S (eV, in the model's mu_graph); ``cv``: mean held-out loss per
    candidate; ``seconds``: wall time; ``weight``: the James-Stein weight w of a shrunk
    shift (``None`` otherwise).
    """

    model: torch.nn.Module
    choice: str
    steps: int
    shift: float
    cv: dict[str, float]
    seconds: float
    reason: str = ""
    weight: float | None = None

    def summary(self) -> dict:
        return {"choice": self.choice, "steps": self.steps, "shift_eV": self.shift,
                "cv_loss": self.cv, "seconds": round(self.seconds, 3), "reason": self.reason,
                **({"shrinkage_weight": self.weight} if self.weight is not None else {})}


def _candidate(n: int) -> str:
    return f"steps={n}"


def candidate_losses(model, params: Params, train: Sequence[Sample],
                     held: Sequence[Sample], objective: Objective, lr, grid: Sequence[int],
                     task_shift: bool = True) -> dict[str, float]:
    """Held-out loss of every candidate (zero-shot; shift + n steps for n in ``grid``)
    after adapting on ``train``."""
    dtype = next(model.parameters()).dtype
    train_g = samples_graph(train, model.cutoff, dtype)
    held_g = samples_graph(held, model.cutoff, dtype)
    grid = sorted(set(grid))

    def score(p, shift=None) -> float:
        return float(task_loss(model, p, held_g, objective, shift, create_graph=False)
                     .detach())

    out = {ZERO_SHOT: score(params)}
    shift = (support_shift(model, params, train_g, objective, differentiable=False)
             if task_shift else None)
    if 0 in grid:
        out[_candidate(0)] = score(params, shift)

    def record(j, p):
        if j in grid:
            out[_candidate(j)] = score(p, shift)

    inner_loop(model, params, train_g, objective, max(grid), lr, second_order=False,
               shift=shift, keep_graph=False, callback=record)
    return out


def _cv_losses(model, params: Params, samples: Sequence[Sample], objective: Objective,
               lr, config: AdaptConfig) -> dict[str, list[float]]:
    """Held-out loss of every candidate on each fold, ``{candidate: [L_f]}``."""
    k = len(samples)
    folds = min(config.folds, k)
    order = np.random.default_rng(config.seed).permutation(k)
    per_fold: dict[str, list[float]] = {}
    for f in range(folds):
        held_idx = set(order[f::folds].tolist())
        held = [samples[i] for i in sorted(held_idx)]
        rest = [samples[i] for i in order if i not in held_idx]
        for key, value in candidate_losses(model, params, rest, held, objective, lr,
                                           config.step_grid, config.task_shift).items():
            per_fold.setdefault(key, []).append(value)
    return per_fold


def select_candidate(per_fold: dict[str, list[float]], selection: str = "min") -> str:
    """The cross-validated choice (module docstring): the lowest mean loss, zero-shot on
    ties; with ``one-se`` zero-shot unless the best beats it by more than one paired
    standard error over the folds."""
    mean = {c: float(np.mean(v)) for c, v in per_fold.items()}
    best = min(mean, key=lambda c: (mean[c], c != ZERO_SHOT))
    if selection == "one-se" and best != ZERO_SHOT and ZERO_SHOT in per_fold:
        gain = np.asarray(per_fold[ZERO_SHOT]) - np.asarray(per_fold[best])
        se = float(np.std(gain, ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else np.inf
        if not float(np.mean(gain)) > se:
            return ZERO_SHOT
    return best


def candidate_step(choice: str) -> int:
    return 0 if choice in (ZERO_SHOT, SHRUNK_SHIFT) else int(choice.split("=")[1])


def shrinkage_weight(residual: float, noise_rmse: float, k: int) -> float:
    """Positive-part James-Stein weight of a task's mean support residual.

    With k support residuals r_i = b + e_i (b: the task's energy offset; e_i: per-structure
    errors of RMS ``noise_rmse`` = s, eV) the mean r has E[r^2] = b^2 + s^2 / k, so
    b^2 is estimated by r^2 - s^2 / k and the shrunk offset is w r with
    w = max(0, 1 - s^2 / (k r^2)) (0 for r = 0)."""
    if k < 1 or not noise_rmse >= 0:
        raise ConfigError(f"shrinkage_weight needs k >= 1 and noise >= 0, got k={k}, "
                          f"noise={noise_rmse}")
    if residual == 0.0:
        return 0.0
    return max(0.0, 1.0 - noise_rmse ** 2 / (k * residual ** 2))


def held_out_rmse(metadata: dict) -> float | None:
    """The energy RMSE (eV) of a checkpoint's pretraining on validation *tasks* it never
    trained on: ``val.energy_rmse`` of a ``metalegnet train`` checkpoint whose split was by
    group (``group_by`` set), or the value meta-training copied from its ``init``
    (``meta.k1_noise_rmse``); ``None`` when neither is known (a split by frame says
    nothing about unseen tasks)."""
    meta = metadata.get("meta") or {}
    if meta.get("k1_noise_rmse") is not None:
        return float(meta["k1_noise_rmse"])
    val = metadata.get("val") or {}
    group_by = (metadata.get("train_config") or {}).get("group_by")
    if val.get("energy_rmse") is not None and group_by:
        return float(val["energy_rmse"])
    return None


def adapt(model: torch.nn.Module, support: Sequence[Sample], objective: Objective,
          inner_lr: float | Params, config: AdaptConfig | None = None,
          small_support_choice: str | None = None,
          small_support_noise: float | None = None) -> AdaptResult:
    """Adapt a copy of ``model`` to the task of ``support`` (module docstring).

    ``inner_lr``: the meta-trained alpha (float or per-parameter Meta-SGD rates), used
    unless ``config.lr`` is set. ``small_support_choice``: the candidate to take when the
    support set is too small to cross-validate (k = 1): one chosen beforehand on the
    source tasks (:func:`small_support_policy`) or ``shrunk-shift``, which needs
    ``small_support_noise`` (s of :func:`shrinkage_weight`, eV); default zero-shot."""
    config = config or AdaptConfig()
    t0 = time.perf_counter()
    if not support:
        raise ConfigError("adaptation needs at least one support structure")
    if small_support_choice == SHRUNK_SHIFT and small_support_noise is None:
        raise ConfigError("the shrunk-shift k = 1 policy needs the model's error on unseen "
                          "tasks (small_support_noise)")
    model = exact_higher_derivatives(copy.deepcopy(model))
    model.eval()
    dtype = next(model.parameters()).dtype
    lr = config.lr if config.lr is not None else inner_lr
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    cv: dict[str, float] = {}
    reason = ""
    if config.steps is not None:
        choice, steps = _candidate(config.steps), config.steps
        reason = "fixed --steps"
    elif len(support) < 2:
        choice = small_support_choice or ZERO_SHOT
        steps = candidate_step(choice)
        reason = ("fewer than 2 support structures: nothing to cross-validate on; "
                  + ("the shrunk per-task reference" if choice == SHRUNK_SHIFT
                     else "the choice made on the source tasks" if small_support_choice
                     else "zero-shot"))
    else:
        per_fold = _cv_losses(model, params, support, objective, lr, config)
        cv = {c: float(np.mean(v)) for c, v in per_fold.items()}
        choice = select_candidate(per_fold, config.selection)
        steps = candidate_step(choice)
        reason = (f"{min(config.folds, len(support))}-fold cross-validation on the support "
                  f"set ({config.selection})")
    shift, w = 0.0, None
    if choice != ZERO_SHOT:
        graph = samples_graph(support, model.cutoff, dtype)
        delta = (support_shift(model, params, graph, objective, differentiable=False)
                 if config.task_shift else None)
        if choice == SHRUNK_SHIFT and delta is not None:
            w = shrinkage_weight(float(delta), float(small_support_noise), len(support))
            delta = delta * w
            reason += f" (James-Stein weight {w:.2f}, s = {small_support_noise:.3f} eV)"
        params = inner_loop(model, params, graph, objective, steps, lr, second_order=False,
                            shift=delta, keep_graph=False)
        shift = 0.0 if delta is None else float(delta)
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(params[n].detach())
            task_norm = copy.deepcopy(model.normalization)  # the per-task energy reference
            task_norm.energy_shift_graph.add_(shift)
            model.normalization.copy_from(task_norm)
    for p in model.parameters():
        p.requires_grad_(True)
    return AdaptResult(model=model, choice=choice, steps=steps, shift=shift, cv=cv,
                       seconds=time.perf_counter() - t0, reason=reason, weight=w)


def source_choice(tasks, losses_of, draws: int = 2, max_query: int = 20, seed: int = 0
                  ) -> dict:
    """The k = 1 candidate with the lowest mean query loss over ``draws`` one-structure
    support draws of every source task (query: up to ``max_query`` others; zero-shot wins
    ties). ``losses_of(support, query)`` gives each candidate's query loss."""
    rng = np.random.default_rng(seed)
    sums: dict[str, float] = {}
    count = 0
    for task in tasks:
        if len(task) < 2:
            continue
        for _ in range(draws):
            support, query = task.draw(1, rng, max_query)
            for key, value in losses_of(support, query).items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
    losses = {k: v / max(count, 1) for k, v in sums.items()}
    choice = min(losses, key=lambda c: (losses[c], c != ZERO_SHOT)) if losses else ZERO_SHOT
    return {"choice": choice, "losses": losses, "draws": count}


def small_support_policy(model: torch.nn.Module, tasks, objective: Objective, lr,
                         grid: Sequence[int], task_shift: bool = True, draws: int = 2,
                         max_query: int = 20, seed: int = 0) -> dict:
    """The candidate for k = 1 (no cross-validation possible), by :func:`source_choice`
    on the source tasks. The model was meta-trained on these tasks, so zero-shot looks
    better there than on a new task: the estimate leans towards the safe choice."""
    model = exact_higher_derivatives(copy.deepcopy(model))
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    return source_choice(
        tasks, lambda support, query: candidate_losses(model, params, support, query,
                                                       objective, lr, grid, task_shift),
        draws, max_query, seed)
