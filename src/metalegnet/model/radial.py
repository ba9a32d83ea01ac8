"""Radial embedding of interatomic distances: Bessel basis times a smooth cutoff envelope.

    e_ij = RBF(d_ij) * f_cut(d_ij)

with the DimeNet Bessel basis  RBF_n(d) = sqrt(2 / r_c) * sin(n pi d / r_c) / d,  n = 1..K,
and the polynomial envelope of DimeNet (exponent p):

    f_cut(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),  x = d / r_c < 1,

which goes to zero with continuous first and second derivatives at r_c, so energies and
conservative forces are smooth when atoms cross the cutoff. Distances in Å.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PolynomialCutoff(nn.Module):
    """Smooth envelope f_cut(d) with f_cut(r_c) = f_cut'(r_c) = f_cut''(r_c) = 0."""

    def __init__(self, cutoff: float, exponent: int = 6) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(exponent)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = d / self.cutoff
        out = (1.0 - (p + 1) * (p + 2) / 2 * x.pow(p) + p * (p + 2) * x.pow(p + 1)
               - p * (p + 1) / 2 * x.pow(p + 2))
        return out * (x < 1.0).to(d.dtype)

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, exponent={self.p}"


class BesselBasis(nn.Module):
    """K Bessel radial functions sqrt(2/r_c) sin(n pi d / r_c) / d with trainable frequencies."""

    def __init__(self, cutoff: float, num_basis: int = 16, trainable: bool = True) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi
        self.freqs = nn.Parameter(freqs, requires_grad=trainable)
        self.prefactor = math.sqrt(2.0 / self.cutoff)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        d = d.unsqueeze(-1)
        safe = torch.where(d > 1e-9, d, torch.ones_like(d))
        return self.prefactor * torch.sin(self.freqs * safe / self.cutoff) / safe

    def extra_repr(self) -> str:
        return f"cutoff={self.cutoff}, num_basis={self.freqs.numel()}"


class RadialEmbedding(nn.Module):
    """e_ij = BesselBasis(d_ij) * PolynomialCutoff(d_ij), shape ``[E, K]``."""

    def __init__(self, cutoff: float, num_basis: int = 16, envelope_exponent: int = 6) -> None:
        super().__init__()
        self.basis = BesselBasis(cutoff, num_basis)
        self.envelope = PolynomialCutoff(cutoff, envelope_exponent)
        self.num_basis = num_basis

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """``basis(d) * envelope(d)``, with the factors that do not depend on n taken on
        ``[E, 1]``: sin(d (n pi / r_c)) * (sqrt(2 / r_c) f_cut(d) / d), so only three
        ``[E, K]`` operations (here and in the backward passes)."""
        b = self.basis
        d1 = d.unsqueeze(-1)
        safe = torch.where(d1 > 1e-9, d1, torch.ones_like(d1))
        scale = b.prefactor * self.envelope(d).unsqueeze(-1) / safe  # [E, 1]
        return torch.sin(safe * (b.freqs / b.cutoff)) * scale
