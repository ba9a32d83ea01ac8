"""SE(3)-equivariant message passing on scalar and vector features (paper eqs. 1-4).

Scalars ``s_i`` are ``[N, F]``, vectors ``v_i`` are ``[N, 3, F]`` (Cartesian axis second),
edges ``(i, j)`` with unit vectors ``r̂_ij`` and radial embedding ``e_ij`` ``[E, K]``.

Message block (PaiNN-style, Schütt et al. 2021):

    [a_ij, b_ij, c_ij] = phi(s_j) ⊙ W(e_ij)                       (invariant coefficients)
    (1) m^v_ij = a_ij ⊙ v_j + b_ij ⊗ r̂_ij                        (equivariant)
    (2) m^s_ij = c_ij                                           (invariant)
    (3) s_i <- s_i + Σ_j m^s_ij ;   (4) v_i <- v_i + Σ_j m^v_ij

Update block (mixes channels; vectors gated by invariants):

    U v, V v (linear over channels, no bias);  [a_vv, a_sv, a_ss] = MLP([s_i, ||V v_i||])
    v_i <- v_i + a_vv ⊙ U v_i ;  s_i <- s_i + a_ss + a_sv ⊙ <U v_i, V v_i>

Under x -> R x + t: d_ij, e_ij, s invariant; r̂_ij -> R r̂_ij, v -> R v, so the block is
SE(3)-equivariant. Sums over neighbours use ``index_add_`` (no torch-scatter).
"""

from __future__ import annotations

import torch
from torch import nn


def _safe_norm(v: torch.Tensor, dim: int, eps: float = 1e-8) -> torch.Tensor:
    """sqrt(|v|^2 + eps): a norm with finite gradients at v = 0."""
    return torch.sqrt((v * v).sum(dim=dim) + eps)


class EquivariantMessage(nn.Module):
    """Eqs. 1-4: neighbour messages m^s_ij, m^v_ij summed onto the centre atom."""

    def __init__(self, num_features: int, num_radial: int, avg_num_neighbors: float = 1.0
                 ) -> None:
        super().__init__()
        f = num_features
        self.inv_neighbors = 1.0 / float(avg_num_neighbors)
        self.phi = nn.Sequential(nn.Linear(f, f), nn.SiLU(), nn.Linear(f, 3 * f))
        # no bias: W(e_ij) must vanish with the enveloped e_ij at r_c (smooth cutoff)
        self.filter = nn.Linear(num_radial, 3 * f, bias=False)
        self.num_features = f

    def forward(self, s: torch.Tensor, v: torch.Tensor, edge_index: torch.Tensor,
                unit: torch.Tensor, radial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = edge_index
        x = self.phi(s)[j] * self.filter(radial) * self.inv_neighbors
        a, b, c = torch.split(x, self.num_features, dim=-1)
        msg_v = a.unsqueeze(1) * v[j] + b.unsqueeze(1) * unit.unsqueeze(-1)
        ds = torch.zeros_like(s).index_add_(0, i, c)
        dv = torch.zeros_like(v).index_add_(0, i, msg_v)
        return s + ds, v + dv


class EquivariantUpdate(nn.Module):
    """Channel mixing with invariant gates (the PaiNN update block)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        f = num_features
        self.U = nn.Linear(f, f, bias=False)
        self.V = nn.Linear(f, f, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, 3 * f))
        self.num_features = f

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        uv = self.U(v)
        vv = self.V(v)
        a = self.mlp(torch.cat([s, _safe_norm(vv, dim=1)], dim=-1))
        a_vv, a_sv, a_ss = torch.split(a, self.num_features, dim=-1)
        v = v + a_vv.unsqueeze(1) * uv
        s = s + a_ss + a_sv * (uv * vv).sum(dim=1)
        return s, v


class InteractionBlock(nn.Module):
    """One message block followed by one update block, with a scalar layer norm.

    ``identity_init``: the last layers of phi and of the update MLP start at zero and there is
    no layer norm, so the block is the identity at initialisation (``full``'s post-fusion
    block: the full model then starts as the vanilla one)."""

    def __init__(self, num_features: int, num_radial: int, avg_num_neighbors: float = 1.0,
                 identity_init: bool = False) -> None:
        super().__init__()
        self.message = EquivariantMessage(num_features, num_radial, avg_num_neighbors)
        self.update = EquivariantUpdate(num_features)
        self.norm = None if identity_init else nn.LayerNorm(num_features)
        if identity_init:
            for layer in (self.message.phi[-1], self.update.mlp[-1]):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, s, v, edge_index, unit, radial):
        s, v = self.message(s, v, edge_index, unit, radial)
        s, v = self.update(s, v)
        return (s if self.norm is None else self.norm(s)), v
