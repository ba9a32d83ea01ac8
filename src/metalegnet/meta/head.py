"""Closed-form adaptation of LegNet's last layer (the *ridge head*) and its meta-objective.

LegNet's energy is linear in the last layer of the local MLP (eq. 17). With
h_i = SiLU(W_1 s_i + b_1) and e_i = w . h_i + b, eqs. 19-21 and the normalisation give

    E_G = sigma sum_i gamma_i (w . h_i + b) + (terms free of w, b)
        = theta . phi_G + rest_G,      theta = (w, b),
    phi_G = sigma (sum_i gamma_i h_i, sum_i gamma_i)                      [eV per unit]

exactly. Adapting to a task from k support structures with labels y_G solves, in closed
form, for a change delta of theta and a per-task energy reference c (eV):

    min_{delta, c}  sum_{G in S} (y_G - E_G(theta_0) - c - delta . phi_G)^2 + lambda |delta|^2

ridge regression of the residuals r_G = y_G - E_G(theta_0) with an unpenalised intercept,
i.e. a Gaussian prior on the last layer centred at the (meta-)trained weights. With the
support-centred features Phi_c (k x P) and residuals r_c, in the k x k dual form:

    delta = Phi_c^T (Phi_c Phi_c^T + lambda I)^-1 r_c,    c = mean(r) - mean(phi) . delta

k = 1 gives delta = 0 and c = r (the per-task shift only). lambda is relative,
lambda = lambda_rel * mean_G |phi_c,G|^2, so one value fits every task's feature scale.

Forces are linear in the same weights, F_i = F_i(theta_0) - delta . d phi_G / d x_i, so a
support set with forces (a checkpoint trained on them) adds one row per force component of
its free atoms. The problem is then solved in the primal, weighted like the training
objective (energy rows 1 / (k sigma_E^2), force rows 1 / (n_F sigma_F^2)):

    min  sum_E w_E (r_E - c - delta . phi)^2 + sum_F w_F (r_F + delta . d phi/dx)^2
         + lambda w_E |delta|^2

which is the problem above, divided by k sigma_E^2, when there are no force rows.
The adapted model is an ordinary LegNet (w += delta_w, b += delta_b, mu_graph += c): it
loads in the calculator, its forces are -dE/dx of the adapted energy, and its c_i
(eq. 19) still sum to the adapted energy.

Meta-training through this solution (Bertinetto et al. 2019, "Meta-learning with
differentiable closed-form solvers", R2-D2) replaces eq. 24's gradient steps by the
closed form: the outer loss of eq. 25 is the query loss after the solve, differentiated
through it (first-order backpropagation through two forward passes per task, no second
derivatives of the network), with log lambda_rel learned beside theta.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from metalegnet.data.graph import AtomicGraph
from metalegnet.data.labels import Sample
from metalegnet.errors import ConfigError
from metalegnet.meta.adapt import ZERO_SHOT, AdaptResult, source_choice
from metalegnet.meta.maml import samples_graph
from metalegnet.train.losses import Objective, force_mask

SHIFT = "shift"  # the candidate lambda = infinity: per-task reference only
#: relative ridge strengths tried at adaptation, as multiples of the stored lambda_rel
LAMBDA_FACTORS = (0.1, 1.0, 10.0)


def _last_layer(model: torch.nn.Module) -> torch.nn.Linear:
    local = getattr(getattr(model, "output", None), "local", None)
    if local is None or not isinstance(local[-1], torch.nn.Linear):
        raise ConfigError(f"the ridge head adapts LegNet's output block (eq. 17); "
                          f"{type(model).__name__} has none")
    return local[-1]


@dataclass
class HeadFeatures:
    """``phi`` ``[G, P]`` (eV per unit of theta) and the model's energies ``[G]`` (eV);
    with forces also ``dphi`` ``[P, N, 3]`` (d phi_G / d x_i, eV/Å per unit) and the
    model's forces ``[N, 3]`` (eV/Å)."""

    phi: torch.Tensor
    energy: torch.Tensor
    dphi: torch.Tensor | None = None
    forces: torch.Tensor | None = None


def head_features(model: torch.nn.Module, graph: AtomicGraph,
                  with_forces: bool = False) -> HeadFeatures:
    """phi_G and E_G(theta_0) of every graph (module docstring); differentiable in the
    model's parameters (call under ``torch.no_grad()`` when that is not needed, except
    ``with_forces``, which differentiates with respect to the positions: P + 1 backward
    passes, the results detached)."""
    last = _last_layer(model)
    pos = None
    if with_forces:
        pos = graph.pos.detach().requires_grad_(True)
        graph = dataclasses.replace(graph, pos=pos)
    with torch.enable_grad() if with_forces else contextlib.nullcontext():
        return _features(model, graph, last, pos)


def _features(model, graph: AtomicGraph, last, pos) -> HeadFeatures:
    out = model(graph, compute_forces=False)
    if out.gate is None:
        raise ConfigError("the ridge head needs the adsorption gate gamma_i (eq. 18)")
    h = model.output.local[:-1](out.latent)  # [N, F]: SiLU(W_1 s_i + b_1)
    gamma = out.gate.unsqueeze(1)
    rows = torch.cat([gamma * h, gamma], dim=1)  # [N, F + 1]
    phi = rows.new_zeros(graph.num_graphs, rows.shape[1]).index_add(0, graph.batch, rows)
    sigma = model.normalization.energy_scale.to(phi.dtype)
    assert phi.shape[1] == last.weight.numel() + 1
    phi = sigma * phi
    if pos is None:
        return HeadFeatures(phi=phi, energy=out.energy)
    (grad,) = torch.autograd.grad(out.energy.sum(), pos, retain_graph=True)
    dphi = torch.stack([torch.autograd.grad(phi[:, p].sum(), pos, retain_graph=True)[0]
                        for p in range(phi.shape[1])])
    return HeadFeatures(phi=phi.detach(), energy=out.energy.detach(), dphi=dphi,
                        forces=-grad)


def relative_lambda(phi: torch.Tensor, lambda_rel: torch.Tensor | float) -> torch.Tensor:
    """lambda = lambda_rel * mean_G |phi_G - mean phi|^2 (+ a floor for k = 1)."""
    centred = phi - phi.mean(0, keepdim=True)
    scale = (centred * centred).sum(1).mean().detach()
    return lambda_rel * (scale + 1e-12)


def solve_head(phi: torch.Tensor, residual: torch.Tensor, lambda_rel: torch.Tensor | float
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(delta [P], c [])`` of the ridge problem (module docstring), differentiable;
    ``lambda_rel = inf`` gives delta = 0 (shift only)."""
    mean_phi, mean_r = phi.mean(0), residual.mean()
    if isinstance(lambda_rel, float) and math.isinf(lambda_rel):
        return phi.new_zeros(phi.shape[1]), mean_r
    pc, rc = phi - mean_phi, residual - mean_r
    k = phi.shape[0]
    lam = relative_lambda(phi, lambda_rel)
    gram = pc @ pc.T + lam * torch.eye(k, dtype=phi.dtype, device=phi.device)
    delta = pc.T @ torch.linalg.solve(gram, rc)
    return delta, mean_r - mean_phi @ delta


def head_meta_loss(model: torch.nn.Module, batch: Sequence[tuple[AtomicGraph, AtomicGraph]],
                   objective: Objective, log_lambda: torch.Tensor,
                   zero_shot_weight: float = 0.0) -> torch.Tensor:
    """(1/|B|) sum_T L_{Q_T} after the closed-form head on S_T (module docstring), plus
    ``zero_shot_weight`` times the query loss of the model without the head's correction
    (as in :func:`metalegnet.meta.maml.meta_loss`)."""
    if objective.use_forces or objective.energy_label is None:
        raise ConfigError("the ridge head is fitted on energies: meta-train it with task s2e")
    total = None
    for support, query in batch:
        fs, fq = head_features(model, support), head_features(model, query)
        delta, c = solve_head(fs.phi, support.labels[objective.energy_label] - fs.energy,
                              torch.exp(log_lambda))
        energy = fq.energy + c + fq.phi @ delta
        sums = objective(energy, None, query)
        q = objective.loss(sums, sums.num_graphs, sums.num_atoms)
        if zero_shot_weight > 0:
            plain = objective(fq.energy, None, query)
            q = q + zero_shot_weight * objective.loss(plain, plain.num_graphs, plain.num_atoms)
        total = q if total is None else total + q
    return total / len(batch)


def _candidates(lambda_rel: float) -> dict[str, float]:
    out = {SHIFT: math.inf}
    for f in LAMBDA_FACTORS:
        out[f"ridge(lambda={lambda_rel * f:.3g})"] = lambda_rel * f
    return out


@dataclass
class SupportRows:
    """The rows of the ridge problem: per support structure its phi ``[k, P]`` and energy
    residual ``[k]`` (eV); with forces, per structure ``a`` ``[3 n_free, P]`` (d phi / d x
    on its free atoms) and force residuals ``rf`` ``[3 n_free]`` (eV/Å), and the loss
    normalisers sigma_E, sigma_F."""

    phi: torch.Tensor
    r: torch.Tensor
    a: list[torch.Tensor] | None = None
    rf: list[torch.Tensor] | None = None
    sigma_e: float = 1.0
    sigma_f: float = 1.0

    def subset(self, idx: Sequence[int]) -> SupportRows:
        idx = list(idx)
        pick = (lambda xs: [xs[i] for i in idx]) if self.a is not None else (lambda xs: None)
        return SupportRows(self.phi[idx], self.r[idx], pick(self.a), pick(self.rf),
                           self.sigma_e, self.sigma_f)


def solve_rows(rows: SupportRows, lambda_rel: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(delta, c)``: :func:`solve_head` without forces, else the weighted primal problem
    of the module docstring (lambda_rel = inf: delta = 0, c = mean energy residual)."""
    if rows.a is None or math.isinf(lambda_rel):
        return solve_head(rows.phi, rows.r, lambda_rel)
    k, p = rows.phi.shape
    a_f = torch.cat(rows.a)
    r_f = torch.cat(rows.rf)
    w_e = 1.0 / (k * rows.sigma_e ** 2)
    w_f = 1.0 / (max(len(r_f), 1) * rows.sigma_f ** 2)
    a_e = torch.cat([rows.phi, rows.phi.new_ones(k, 1)], 1)
    a_f = torch.cat([-a_f, a_f.new_zeros(len(r_f), 1)], 1)  # dF = -delta . d phi / dx
    lam = relative_lambda(rows.phi, lambda_rel) * w_e
    penalty = torch.diag(torch.cat([lam.expand(p), lam.new_zeros(1)]))
    lhs = w_e * a_e.T @ a_e + w_f * a_f.T @ a_f + penalty
    x = torch.linalg.solve(lhs, w_e * a_e.T @ rows.r + w_f * a_f.T @ r_f)
    return x[:p], x[p]


def _errors(rows: SupportRows, delta=None, c=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Absolute energy errors (eV) and force-component errors (eV/Å, or None) of ``rows``
    after the change (delta, c); ``None``: zero-shot."""
    if delta is None:
        e = rows.r.abs()
        f = None if rows.a is None else torch.cat(rows.rf).abs()
        return e, f
    e = (rows.r - c - rows.phi @ delta).abs()
    f = None if rows.a is None else torch.cat(
        [rf + a @ delta for a, rf in zip(rows.a, rows.rf)]).abs()
    return e, f


def head_cv(rows: SupportRows, lambda_rel: float, folds: int, seed: int) -> dict[str, float]:
    """Held-out error of every candidate by ``folds``-fold cross-validation on the support
    set: zero-shot, shift only, and the ridge head at ``lambda_rel`` x
    :data:`LAMBDA_FACTORS`. Without forces the mean absolute energy error (eV); with forces
    mean |dE| / sigma_E + mean |dF| / sigma_F (the training objective's weighting)."""
    k = rows.phi.shape[0]
    folds = min(folds, k)
    order = np.random.default_rng(seed).permutation(k)
    cands = _candidates(lambda_rel)
    errs: dict[str, list] = {ZERO_SHOT: [], **{name: [] for name in cands}}
    for f in range(folds):
        held = rows.subset(np.sort(order[f::folds]).tolist())
        rest = rows.subset(np.sort(np.setdiff1d(order, order[f::folds])).tolist())
        errs[ZERO_SHOT].append(_errors(held))
        for name, lam in cands.items():
            errs[name].append(_errors(held, *solve_rows(rest, lam)))
    out = {}
    for name, pairs in errs.items():
        e = float(torch.cat([p[0] for p in pairs]).mean())
        if rows.a is None:
            out[name] = e
        else:
            fe = float(torch.cat([p[1] for p in pairs]).mean())
            out[name] = e / rows.sigma_e + fe / rows.sigma_f
    return out


def support_rows(model: torch.nn.Module, support: Sequence[Sample], energy_label: str,
                 scales=None) -> SupportRows:
    """The :class:`SupportRows` of ``support`` for ``model`` (float64); ``scales``
    (:class:`~metalegnet.train.losses.LossScales`) adds the force rows of the free atoms."""
    dtype = _last_layer(model).weight.dtype
    graph = samples_graph(support, model.cutoff, dtype)
    if scales is None:
        with torch.no_grad():
            f = head_features(model, graph)
        return SupportRows(f.phi.double(), (graph.labels[energy_label] - f.energy).double())
    f = head_features(model, graph, with_forces=True)
    free = force_mask(graph, "free")
    a, rf = [], []
    for g in range(graph.num_graphs):
        atoms = (graph.batch == g) & free
        a.append(f.dphi[:, atoms].reshape(f.dphi.shape[0], -1).T.double())
        rf.append((graph.labels["forces"][atoms] - f.forces[atoms]).reshape(-1).double())
    return SupportRows(f.phi.double(), (graph.labels[energy_label] - f.energy).double(),
                       a, rf, float(scales.energy), float(scales.forces))


def adapt_head(model: torch.nn.Module, support: Sequence[Sample], energy_label: str,
               lambda_rel: float = 1.0, folds: int = 5, seed: int = 0,
               small_support_choice: str | None = None, forces=None) -> AdaptResult:
    """Adapt a copy of ``model`` with the ridge head on ``support`` (module docstring).

    The candidate (zero-shot, shift only, or the ridge head at one of three strengths)
    is chosen by cross-validation on the support set, zero-shot winning ties, so
    adaptation is never worse than zero-shot there. With one structure nothing can be
    held out: zero-shot, unless ``small_support_choice`` (``"shift"``, chosen on the
    source tasks at the end of meta-training) says otherwise. ``forces``: the loss scales
    (:class:`~metalegnet.train.losses.LossScales`) to fit the support forces too."""
    t0 = time.perf_counter()
    if not support:
        raise ConfigError("adaptation needs at least one support structure")
    model = copy.deepcopy(model).eval()
    last = _last_layer(model)
    dtype = last.weight.dtype
    rows = support_rows(model, support, energy_label, forces)
    cv: dict[str, float] = {}
    if len(support) < 2:
        choice = small_support_choice if small_support_choice == SHIFT else ZERO_SHOT
        reason = ("fewer than 2 support structures: nothing to cross-validate on; "
                  + ("the choice made on the source tasks" if small_support_choice
                     else "zero-shot"))
    else:
        cv = head_cv(rows, lambda_rel, folds, seed)
        choice = min(cv, key=lambda c: (cv[c], c != ZERO_SHOT))
        reason = f"{min(folds, len(support))}-fold cross-validation on the support set"
    shift = 0.0
    if choice != ZERO_SHOT:
        delta, c = solve_rows(rows, _candidates(lambda_rel)[choice])
        shift = float(c)
        with torch.no_grad():
            last.weight.add_(delta[:-1].to(dtype).view_as(last.weight))
            last.bias.add_(delta[-1].to(dtype))
            model.normalization.energy_shift_graph.add_(shift)
    return AdaptResult(model=model, choice=choice, steps=0, shift=shift, cv=cv,
                       seconds=time.perf_counter() - t0, reason=reason)


def small_support_head_policy(model: torch.nn.Module, tasks, energy_label: str,
                              draws: int = 2, max_query: int = 20, seed: int = 0) -> dict:
    """For k = 1: zero-shot or shift, whichever has the lower mean absolute query error
    (eV) over one-structure draws of the source tasks (:func:`source_choice`)."""
    model = copy.deepcopy(model).eval()
    dtype = next(model.parameters()).dtype

    def losses(support, query) -> dict[str, float]:
        with torch.no_grad():
            gs = samples_graph(support, model.cutoff, dtype)
            gq = samples_graph(query, model.cutoff, dtype)
            es = model(gs, compute_forces=False).energy
            eq = model(gq, compute_forces=False).energy
        rq = gq.labels[energy_label] - eq
        c = (gs.labels[energy_label] - es).mean()
        return {ZERO_SHOT: float(rq.abs().mean()), SHIFT: float((rq - c).abs().mean())}

    return source_choice(tasks, losses, draws, max_query, seed)
