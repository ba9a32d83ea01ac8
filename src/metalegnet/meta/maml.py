"""MAML over catalyst-adsorbate tasks with ``torch.func`` (paper §2.5, eqs. 24-25).

Inner loop (eq. 24), for task T with support set S_T, ``n`` steps from theta_0 = theta:

    theta_{j+1} = theta_j - alpha (.) grad_theta L_{S_T}(theta_j)           j = 0 .. n-1

with alpha one learning rate, or (Meta-SGD, ``meta_sgd=True``) one learned rate per
parameter entry. Outer loop (eq. 25), over a batch B of tasks with query sets Q_T:

    theta <- theta - beta grad_theta (1/|B|) sum_{T in B} L_{Q_T}(theta_n(T))

(Adam with rate beta). With a zero-shot weight w > 0 each task's term also carries the
loss of the unadapted model on its query set (no step, no shift),

    L_T = L_{Q_T}(theta_n(T)) + w L_{Q_T}(theta),

so theta stays a usable zero-shot model: adaptation falls back to it when the support set
is too small to cross-validate (k = 1) or when no step helps there, and without the term
the per-task shift frees theta's absolute energy reference, which then drifts (the
zero-shot error of a MAML init with w = 0 was up to 1.5x the pretrained model's, on
xu-kitchin Cu(111)).

Second-order MAML differentiates through the inner updates
(``torch.autograd.grad(create_graph=True)``; with the conservative force head F = -dE/dx a
force loss makes this a third derivative of the energy); first-order MAML (FOMAML) treats
the inner gradients as constants, so d theta_n / d theta = I.

L is the training loss of :mod:`metalegnet.train.losses` (normalised energy and force
errors). Every forward pass is ``torch.func.functional_call(model, params, graph)`` with
the model's buffers (its :class:`~metalegnet.model.normalization.EnergyNormalization`).

Per-task energy reference (``task_shift=True``): tasks differ by a constant energy offset
(a new surface or adsorbate shifts every adsorption energy), so before the inner loop each
task gets the mean support residual

    delta_T = (1/|S_T|) sum_{G in S_T} (E*_G - E_G(theta))          (eV)

added to every energy of the task (support and query). It is a closed-form function of
theta, differentiated through like the inner steps (detached in first-order mode); an
adapted model stores it in its normalisation's mu_graph.

Third derivatives: torch's fused ``layer_norm`` kernel gives a wrong third derivative (the
second-order meta-gradient of a force loss was off by a relative 3e-4 against finite
differences, exact once LayerNorm is written in elementary ops).
:func:`exact_higher_derivatives` swaps every ``nn.LayerNorm`` of a model for
:class:`ComposedLayerNorm` (same parameters and state dict, same values to round-off);
meta-training and adaptation call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from metalegnet.config import check_fields
from metalegnet.data.graph import AtomicGraph, atoms_to_graph, collate
from metalegnet.data.labels import Sample
from metalegnet.errors import ConfigError
from metalegnet.train.losses import Objective

Params = dict[str, torch.Tensor]


@dataclass
class MAMLConfig:
    """Inner loop of eq. 24 and how the outer loop differentiates it.

    Attributes:
        inner_steps: n, gradient steps on the support set per task.
        inner_lr: alpha (the initial value of every rate with ``meta_sgd``).
        first_order: FOMAML instead of second-order MAML.
        meta_sgd: learn one inner rate per parameter entry (Meta-SGD).
        task_shift: per-task energy reference delta_T (module docstring).
        zero_shot_weight: w, the weight of the unadapted model's own query loss
            (module docstring); 0: eq. 25 as published.
    """

    inner_steps: int = 3
    inner_lr: float = 0.01
    first_order: bool = False
    meta_sgd: bool = False
    task_shift: bool = True
    zero_shot_weight: float = 0.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.inner_steps < 0:
            raise ConfigError(f"inner_steps must be >= 0, got {self.inner_steps}")
        if self.inner_lr <= 0:
            raise ConfigError(f"inner_lr must be > 0, got {self.inner_lr}")
        if not self.zero_shot_weight >= 0:
            raise ConfigError(f"zero_shot_weight must be >= 0, got {self.zero_shot_weight}")


class ComposedLayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` in elementary ops: y = (x - m) / sqrt(var + eps) * w + b over the
    normalised dimensions, so every derivative order is exact."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(-len(self.normalized_shape), 0))
        centred = x - x.mean(dims, keepdim=True)
        y = centred * torch.rsqrt((centred * centred).mean(dims, keepdim=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y


def exact_higher_derivatives(model: nn.Module) -> nn.Module:
    """Swap (in place) every ``nn.LayerNorm`` of ``model`` for :class:`ComposedLayerNorm`."""
    for module in model.modules():
        if type(module) is nn.LayerNorm:
            module.__class__ = ComposedLayerNorm
    return model


def samples_graph(samples: Sequence[Sample], cutoff: float,
                  dtype: torch.dtype = torch.float32) -> AtomicGraph:
    """One batched graph of labelled samples (labels as graph labels)."""
    return collate([atoms_to_graph(s.atoms, cutoff, labels=s.labels, dtype=dtype)
                    for s in samples])


def parameters(model: torch.nn.Module) -> Params:
    """The model's parameters by name (the theta of eqs. 24-25)."""
    return dict(model.named_parameters())


def init_inner_lrs(model: torch.nn.Module, lr: float) -> Params:
    """Meta-SGD rates: one learnable tensor per parameter, filled with ``lr``."""
    return {n: torch.full_like(p, float(lr)).requires_grad_(True)
            for n, p in model.named_parameters()}


def call(model: torch.nn.Module, params: Params, graph: AtomicGraph, kwargs: dict):
    """``functional_call(model, params, (graph,), kwargs)`` with ``tie_weights=False``.

    ``params`` holds each parameter once (``named_parameters()``). A submodule registered
    under two parents (PyG's SchNet shares its filter network between an interaction block
    and its convolution) is one object, so swapping the weight under one name swaps it for
    both; letting ``functional_call`` also swap the alias names swaps the same attribute
    twice, and its restore then leaves the adapted, non-leaf tensor in the model, which
    breaks the next backward pass."""
    return functional_call(model, params, (graph,), kwargs, tie_weights=False)


def predict(model: torch.nn.Module, params: Params, graph: AtomicGraph,
            compute_forces: bool, create_graph: bool = True):
    """``model(graph)`` with weights ``params`` (:func:`call`); autograd on."""
    with torch.enable_grad():
        return call(model, params, graph,
                    {"compute_forces": compute_forces, "create_graph": create_graph})


def task_loss(model: torch.nn.Module, params: Params, graph: AtomicGraph,
              objective: Objective, shift: torch.Tensor | float | None = None,
              create_graph: bool = True) -> torch.Tensor:
    """L(theta) of one batch: the training objective on ``graph`` with energies offset by
    the task's ``shift`` (eV)."""
    out = predict(model, params, graph, objective.use_forces, create_graph)
    energy = out.energy if shift is None else out.energy + shift
    sums = objective(energy, out.forces, graph)
    return objective.loss(sums, sums.num_graphs, sums.num_atoms)


def support_shift(model: torch.nn.Module, params: Params, graph: AtomicGraph,
                  objective: Objective, differentiable: bool = True) -> torch.Tensor:
    """delta_T = mean_G (E*_G - E_G(theta)) over the support graphs (eV)."""
    label = objective.energy_label
    if label is None:
        return graph.pos.new_zeros(())
    if differentiable:
        out = predict(model, params, graph, False)
    else:
        with torch.no_grad():
            out = call(model, params, graph, {"compute_forces": False})
    delta = (graph.labels[label] - out.energy).mean()
    return delta if differentiable else delta.detach()


def inner_loop(model: torch.nn.Module, params: Params, support: AtomicGraph,
               objective: Objective, steps: int, lr: float | Params,
               second_order: bool = True, shift: torch.Tensor | float | None = None,
               keep_graph: bool = True, callback=None) -> Params:
    """theta_n of eq. 24 after ``steps`` updates on ``support``.

    ``lr``: alpha, or a dict of per-parameter rates (Meta-SGD). ``second_order``: keep the
    graph of each inner gradient (MAML) or treat it as a constant (FOMAML). With
    ``keep_graph=False`` (plain adaptation, no outer gradient) each step starts from
    detached weights. ``callback(j, params)`` is called after step j = 1..steps.
    """
    names = list(params)
    for j in range(steps):
        loss = task_loss(model, params, support, objective, shift)
        grads = torch.autograd.grad(loss, [params[n] for n in names],
                                    create_graph=second_order and keep_graph,
                                    allow_unused=True)
        new = {}
        for n, g in zip(names, grads):
            if g is None:
                new[n] = params[n]
                continue
            if not second_order:
                g = g.detach()
            a = lr[n] if isinstance(lr, dict) else lr
            p = params[n] - a * g
            new[n] = p if keep_graph else p.detach().requires_grad_(True)
        params = new
        if callback is not None:
            callback(j + 1, params)
    return params


def meta_loss(model: torch.nn.Module, batch: Sequence[tuple[AtomicGraph, AtomicGraph]],
              objective: Objective, config: MAMLConfig, lrs: Params | None = None,
              params: Params | None = None) -> torch.Tensor:
    """(1/|B|) sum_T L_{Q_T}(theta_n(T)) of eq. 25 for ``batch`` = [(support, query), ...],
    plus w L_{Q_T}(theta) per task when ``config.zero_shot_weight`` w > 0."""
    params = parameters(model) if params is None else params
    lr = lrs if lrs is not None else config.inner_lr
    total = None
    for support, query in batch:
        shift = None
        if config.task_shift:
            shift = support_shift(model, params, support, objective,
                                  differentiable=not config.first_order)
        adapted = inner_loop(model, params, support, objective, config.inner_steps, lr,
                             second_order=not config.first_order, shift=shift)
        q = task_loss(model, adapted, query, objective, shift)
        if config.zero_shot_weight > 0:
            q = q + config.zero_shot_weight * task_loss(model, params, query, objective)
        total = q if total is None else total + q
    return total / len(batch)


def meta_gradient(model: torch.nn.Module, batch: Sequence[tuple[AtomicGraph, AtomicGraph]],
                  objective: Objective, config: MAMLConfig, lrs: Params | None = None
                  ) -> tuple[torch.Tensor, Params]:
    """The meta-loss and its gradient with respect to theta (dict by name; zeros where a
    parameter does not take part)."""
    params = parameters(model)
    loss = meta_loss(model, batch, objective, config, lrs, params)
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return loss.detach(), {n: (torch.zeros_like(p) if g is None else g)
                           for (n, p), g in zip(params.items(), grads)}
