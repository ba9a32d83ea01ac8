"""Gated multiscale fusion (eqs. 14-16) and the virtual node (graph-level exchange).

Gated fusion of fine (s_i, v_i) and upsampled coarse (s^up_i, v^up_i) features:

    (14) g_i = sigmoid(W [s_i || s^up_i] + b)            (invariant, in (0, 1)^F)
    (15) s_i <- s_i + g_i ⊙ W_s s^up_i
    (16) v_i <- v_i + g_i ⊙ W_v v^up_i                   (same gate on every Cartesian axis)

The gate is built from scalars only and W_v mixes channels without a bias, so (16) keeps
vectors equivariant. *Choice*: the paper's convex mix g ⊙ s + (1 - g) ⊙ s^up is replaced by a
gated residual with W_s, W_v initialised to zero. At initialisation the fused features are the
fine ones, so the ``full`` model starts as exactly the vanilla model (same seed, same outputs)
and can only gain from its coarse context; with the convex mix the two differed by 0.60 model
units at initialisation against a 0.185 spread of targets (c3-cu111), and the full model
stalled on small data.

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
    """Eqs. 14-16 as a zero-initialised gated residual (module docstring).

    ``vectors=False`` leaves out eq. 16 (``W_v``): for a model whose fused vectors feed
    nothing (no post-fusion block and conservative forces, which read the energy only), so
    every parameter takes part in the loss.
    """

    def __init__(self, num_features: int, vectors: bool = True) -> None:
        super().__init__()
        f = num_features
        self.gate = nn.Linear(2 * f, f)
        self.W_s = nn.Linear(f, f, bias=False)
        nn.init.zeros_(self.W_s.weight)
        self.W_v = nn.Linear(f, f, bias=False) if vectors else None
        if self.W_v is not None:
            nn.init.zeros_(self.W_v.weight)

    def forward(self, s, v, s_up, v_up):
        g = torch.sigmoid(self.gate(torch.cat([s, s_up], dim=-1)))
        s = s + g * self.W_s(s_up)
        if self.W_v is not None:
            v = v + g.unsqueeze(1) * self.W_v(v_up)
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
