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
SE(3)-equivariant. Sums over neighbours use ``index_add`` (no torch-scatter).

Cost: the per-edge tensors (``[E, 2F]`` and ``[E, 3, F]``) dominate training time, through the
forward pass, the force backward (conservative forces) and the double backward of a force loss.
The message is therefore evaluated with as few edge-level operations as the algebra allows
(same values up to float rounding):

* 1/avg_num_neighbors scales phi(s) on the nodes, not the products on the edges;
* a_ij ⊙ v_j = W_a(e_ij) ⊙ (phi_a(s) ⊙ v)_j: the factor phi_a ⊙ v is formed on the nodes and
  gathered once, so phi_a is never gathered to the edges;
* phi and the filter are split into their a, b, c parts before going to the edges (rows of
  the one ``filter`` weight), so every edge tensor is contiguous and no gradient has to be
  scattered into slices of an ``[E, 3F]`` tensor;
* ``v=None`` stands for zero vectors (the first block): the a_ij ⊙ v_j term is skipped;
* gathers to the edges use ``index_select`` (its backward, ``index_add``, is several times
  faster on the CPU than the accumulating ``index_put`` behind ``x[j]``);
* the neighbour sums are added straight onto s and v (``index_add`` out of place).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import linear


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

    def forward(self, s: torch.Tensor, v: torch.Tensor | None, edge_index: torch.Tensor,
                unit: torch.Tensor, radial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(s + Σ_j m^s_ij, v + Σ_j m^v_ij)``; ``v=None`` means v = 0 (module docstring)."""
        i, j = edge_index
        # node level: (phi_a, phi_b, phi_c) / avg neighbours, [N, F] each; filter rows [F, K]
        phi_a, phi_b, phi_c = torch.split(self.phi(s) * self.inv_neighbors,
                                          self.num_features, dim=-1)
        w_a, w_b, w_c = torch.split(self.filter.weight, self.num_features, dim=0)
        # edge level, contiguous [E, F] / [E, 3, F] tensors only (no slices of edge tensors)
        b = phi_b.index_select(0, j) * linear(radial, w_b)
        c = phi_c.index_select(0, j) * linear(radial, w_c)
        msg_v = b.unsqueeze(1) * unit.unsqueeze(-1)  # b_ij ⊗ r̂_ij
        if v is None:  # v = 0: no a_ij ⊙ v_j term
            v = torch.zeros(s.shape[0], 3, s.shape[1], dtype=s.dtype, device=s.device)
        else:  # a_ij ⊙ v_j = W_a(e_ij) ⊙ (phi_a ⊙ v)_j
            q = (phi_a.unsqueeze(1) * v).index_select(0, j)
            msg_v = msg_v + linear(radial, w_a).unsqueeze(1) * q
        return s.index_add(0, i, c), v.index_add(0, i, msg_v)


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
        """One block on scalars ``s`` and vectors ``v`` (``None``: zero vectors)."""
        s, v = self.message(s, v, edge_index, unit, radial)
        s, v = self.update(s, v)
        return (s if self.norm is None else self.norm(s)), v
