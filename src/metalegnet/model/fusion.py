"""Gated multiscale fusion (eqs. 14-16) and the virtual node (graph-level exchange).

Gated fusion of fine (s_i, v_i) and upsampled coarse (s^up_i, v^up_i) features:

    (14) g_i = sigmoid(W [s_i || s^up_i] + b)            (invariant, in (0, 1)^F)
    (15) s_i <- g_i ⊙ s_i + (1 - g_i) ⊙ s^up_i
    (16) v_i <- g_i ⊙ v_i + (1 - g_i) ⊙ v^up_i          (same gate on every Cartesian axis)

The gate is built from scalars only, so (16) keeps vectors equivariant.

Virtual node: one node per graph reads the graph mean of the scalars and writes back a
broadcast correction to every atom (scalars only, so invariant):

    u_G <- u_G + MLP(mean_{i in G} s_i),   s_i <- s_i + W u_{G(i)}
"""

from __future__ import annotations

import torch
from torch import nn


def graph_mean(x: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Mean of ``x`` over the nodes of each graph, ``[G, ...]`` (empty graphs give 0)."""
    out = torch.zeros((num_graphs,) + x.shape[1:], dtype=x.dtype, device=x.device)
    out = out.index_add(0, batch, x)
    count = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(x.dtype)
    return out / count.view(-1, *([1] * (x.dim() - 1)))


class GatedFusion(nn.Module):
    """Eqs. 14-16."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * num_features, num_features)

    def forward(self, s, v, s_up, v_up):
        g = torch.sigmoid(self.gate(torch.cat([s, s_up], dim=-1)))
        s = g * s + (1.0 - g) * s_up
        v = g.unsqueeze(1) * v + (1.0 - g.unsqueeze(1)) * v_up
        return s, v


class VirtualNode(nn.Module):
    """Graph-level message exchange through one learnable virtual node per graph."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.read = nn.Sequential(nn.Linear(num_features, num_features), nn.SiLU(),
                                  nn.Linear(num_features, num_features))
        self.write = nn.Linear(num_features, num_features)

    def forward(self, s: torch.Tensor, u: torch.Tensor, batch: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        u = u + self.read(graph_mean(s, batch, u.shape[0]))
        return s + self.write(u)[batch], u
