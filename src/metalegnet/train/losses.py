"""Training losses for S2E, S2F, S2EF and IS2RE, in normalised units.

For a (global) batch with graph set B and scored atom set A (free atoms by default):

    L = w_E / |B| * sum_{G in B} l_E((E_G - E*_G) / sigma_E)
      + w_F / |A| * sum_{i in A}  l_F((F_i - F*_i) / sigma_F)

    l_E(x) = |x| (``mae``) or x^2 (``mse``)
    l_F(d) = ||d||_2 (``l2mae``), mean_k |d_k| (``mae``) or mean_k d_k^2 (``mse``)

sigma_E (eV) and sigma_F (eV/Å) are fixed on the training split (energy-residual std and RMS
force component), so both terms are O(1) and ``w_E``, ``w_F`` are dimensionless. Energies are
per structure (total, adsorption or relaxed energy, whatever the task's target is).

Under DDP each rank holds part of B and A; :func:`LossSums.loss` divides the local sums by the
*global* counts, and the trainer multiplies by the world size because DDP averages gradients,
so the gradient equals that of one process on the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from metalegnet.data.graph import AtomicGraph


@dataclass
class LossScales:
    """Normalisers: ``energy`` sigma_E (eV), ``forces`` sigma_F (eV/Å)."""

    energy: float = 1.0
    forces: float = 1.0


@dataclass
class LossSums:
    """Local (this rank's) loss sums and counts of one batch."""

    energy: torch.Tensor
    forces: torch.Tensor
    num_graphs: int
    num_atoms: int

    def loss(self, global_graphs: int, global_atoms: int, energy_weight: float,
             force_weight: float) -> torch.Tensor:
        total = self.energy.new_zeros(())
        if global_graphs > 0 and energy_weight:
            total = total + energy_weight * self.energy / global_graphs
        if global_atoms > 0 and force_weight:
            total = total + force_weight * self.forces / global_atoms
        return total


def force_mask(graph: AtomicGraph, force_atoms: str = "free") -> torch.Tensor:
    """Atoms whose forces are scored: all, or those not held by FixAtoms (``[N]`` bool)."""
    if force_atoms == "all":
        return torch.ones_like(graph.fixed, dtype=torch.bool)
    return ~graph.fixed.bool()


def energy_terms(pred: torch.Tensor, target: torch.Tensor, sigma: float, kind: str
                 ) -> torch.Tensor:
    """``l_E`` per graph ``[G]`` of the normalised energy error."""
    x = (pred - target) / sigma
    return x.abs() if kind == "mae" else x * x


def force_terms(pred: torch.Tensor, target: torch.Tensor, sigma: float, kind: str
                ) -> torch.Tensor:
    """``l_F`` per atom ``[N]`` of the normalised force error."""
    d = (pred - target) / sigma
    if kind == "l2mae":
        return torch.sqrt((d * d).sum(-1) + 1e-12)
    if kind == "mae":
        return d.abs().mean(-1)
    return (d * d).mean(-1)


@dataclass
class Objective:
    """The task's loss: which labels are scored, how, and with which normalisers."""

    energy_label: str | None
    use_forces: bool
    scales: LossScales
    energy_loss: str = "mae"
    force_loss: str = "l2mae"
    force_atoms: str = "free"
    energy_weight: float = 1.0
    force_weight: float = 1.0

    def __call__(self, energy: torch.Tensor | None, forces: torch.Tensor | None,
                 graph: AtomicGraph, metrics=None) -> LossSums:
        """Local loss sums of one batch; also accumulates errors into ``metrics``
        (a :class:`metalegnet.train.metrics.MetricSums`) when given."""
        zero = graph.pos.new_zeros(())
        e_sum, f_sum, n_atoms = zero, zero, 0
        if metrics is not None:
            metrics.add_graphs(graph.num_graphs)
        if self.energy_label is not None:
            target = graph.labels[self.energy_label]
            terms = energy_terms(energy, target, self.scales.energy, self.energy_loss)
            e_sum = terms.sum()
            if metrics is not None:
                metrics.add_energy(energy, target, terms)
        if self.use_forces:
            mask = force_mask(graph, self.force_atoms)
            n_atoms = int(mask.sum())
            if n_atoms:
                pred, target = forces[mask], graph.labels["forces"][mask]
                terms = force_terms(pred, target, self.scales.forces, self.force_loss)
                f_sum = terms.sum()
                if metrics is not None:
                    metrics.add_forces(pred, target, terms)
        return LossSums(energy=e_sum, forces=f_sum, num_graphs=graph.num_graphs,
                        num_atoms=n_atoms)

    def loss(self, sums: LossSums, global_graphs: int, global_atoms: int) -> torch.Tensor:
        return sums.loss(global_graphs, global_atoms,
                         self.energy_weight if self.energy_label is not None else 0.0,
                         self.force_weight if self.use_forces else 0.0)

