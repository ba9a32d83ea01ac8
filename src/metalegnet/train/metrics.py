"""Error metrics accumulated over batches (and over DDP ranks).

For structures G with energy error dE_G (eV) and scored atoms i with force error dF_i (eV/Å):

    energy_mae  = mean_G |dE_G|              energy_rmse = sqrt(mean_G dE_G^2)     (eV)
    force_mae   = mean_{i,k} |dF_ik|         force_rmse  = sqrt(mean_{i,k} dF_ik^2) (eV/Å)

``force_mae`` is the mean over Cartesian components, as OC20 reports it. ``loss`` is the
training objective of :mod:`metalegnet.train.losses` averaged over the same items.

:func:`prediction_spread` is std(predicted) / std(true) over a test set: near 0, a model
predicts about a constant (its reference), whatever its MAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

_FIELDS = ("e_abs", "e_sq", "n_e", "f_abs", "f_sq", "n_f", "e_loss", "f_loss", "n_g")


@dataclass
class MetricSums:
    """Running sums: energy |err|, err^2 and count; force component |err|, err^2 and atom
    count; energy and force loss terms; structures seen."""

    e_abs: float = 0.0
    e_sq: float = 0.0
    n_e: float = 0.0
    f_abs: float = 0.0
    f_sq: float = 0.0
    n_f: float = 0.0
    e_loss: float = 0.0
    f_loss: float = 0.0
    n_g: float = 0.0

    def add_graphs(self, n: int) -> None:
        """Count ``n`` structures (the ``n`` reported, also for force-only tasks)."""
        self.n_g += n

    def add_energy(self, pred: torch.Tensor, target: torch.Tensor,
                   loss_terms: torch.Tensor | None = None) -> None:
        err = (pred.detach() - target).double()
        self.e_abs += float(err.abs().sum())
        self.e_sq += float((err * err).sum())
        self.n_e += err.numel()
        if loss_terms is not None:
            self.e_loss += float(loss_terms.detach().sum())

    def add_forces(self, pred: torch.Tensor, target: torch.Tensor,
                   loss_terms: torch.Tensor | None = None) -> None:
        err = (pred.detach() - target).double()
        self.f_abs += float(err.abs().sum())
        self.f_sq += float((err * err).sum())
        self.n_f += err.shape[0]
        if loss_terms is not None:
            self.f_loss += float(loss_terms.detach().sum())

    def merge(self, other: MetricSums) -> None:
        for f in _FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def to_tensor(self) -> torch.Tensor:
        return torch.tensor([getattr(self, f) for f in _FIELDS], dtype=torch.float64)

    @classmethod
    def from_tensor(cls, t: torch.Tensor) -> MetricSums:
        return cls(**{f: float(v) for f, v in zip(_FIELDS, t.tolist())})

    def state_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def summary(self, energy_weight: float = 1.0, force_weight: float = 1.0,
                with_energy: bool = True, with_forces: bool = False) -> dict[str, float]:
        """Metrics dict; keys for energy/forces only where they are targets."""
        out: dict[str, float] = {}
        loss = 0.0
        if with_energy and self.n_e:
            out["energy_mae"] = self.e_abs / self.n_e
            out["energy_rmse"] = math.sqrt(self.e_sq / self.n_e)
            loss += energy_weight * self.e_loss / self.n_e
        if with_forces and self.n_f:
            out["force_mae"] = self.f_abs / (3 * self.n_f)
            out["force_rmse"] = math.sqrt(self.f_sq / (3 * self.n_f))
            out["n_force_atoms"] = int(self.n_f)
            loss += force_weight * self.f_loss / self.n_f
        out["loss"] = loss
        out["n"] = int(self.n_g)
        return out


def prediction_spread(true, pred) -> float | None:
    """std(pred) / std(true) (population standard deviations) of two equal-length sequences;
    ``None`` when empty, of different lengths, or when the targets are constant."""
    import numpy as np

    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    if true.size == 0 or true.shape != pred.shape:
        return None
    s = float(np.std(true))
    return float(np.std(pred)) / s if s > 0 else None
