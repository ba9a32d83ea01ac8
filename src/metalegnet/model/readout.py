"""Output block (eqs. 17-21) and the two force heads (eqs. 22-23).

    (17) e_i = MLP_e(s_i)                 raw local contribution
    (18) gamma_i = sigmoid(MLP_g(s_i))    adsorption gate
    (19) c_i = gamma_i * e_i              effective contribution (the attribution score)
    (20) b_G = MLP_G(mean_i s_i [|| coarse context])   graph-level correction
    (21) E = sum_i c_i + b_G              (model units; LegNet rescales to eV)

    (22) direct force head  F_i = W_F v_i  (linear over channels; equivariant, not conservative)
    (23) conservative       F_i = -dE/dx_i (autograd)
"""

from __future__ import annotations

import torch
from torch import nn

from metalegnet.model.fusion import graph_mean


def mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


class OutputBlock(nn.Module):
    """Eqs. 17-21. ``context_features`` extra graph-level inputs feed b_G (``coarsen`` variant)."""

    def __init__(self, num_features: int, context_features: int = 0) -> None:
        super().__init__()
        f = num_features
        self.local = mlp(f, f, 1)
        self.gate = mlp(f, f, 1)
        self.graph = mlp(f + context_features, f, 1)

    def forward(self, s: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        e = self.local(s).squeeze(-1)
        gamma = torch.sigmoid(self.gate(s).squeeze(-1))
        c = gamma * e
        pooled = graph_mean(s, batch, num_graphs)
        if context is not None:
            pooled = torch.cat([pooled, context], dim=-1)
        b = self.graph(pooled).squeeze(-1)
        total = torch.zeros(num_graphs, dtype=s.dtype, device=s.device).index_add(0, batch, c)
        return {"local": e, "gate": gamma, "contributions": c, "graph_correction": b,
                "energy": total + b}


class GatedEquivariantBlock(nn.Module):
    """PaiNN's gated equivariant block: v' = (W_2 v) ⊙ g(s, ||W_1 v||), s' = h(s, ||W_1 v||).

    The gate g is built from invariants only, so v' stays equivariant.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        f = num_features
        self.w1 = nn.Linear(f, f, bias=False)
        self.w2 = nn.Linear(f, f, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * f, f), nn.SiLU(), nn.Linear(f, 2 * f))
        self.num_features = f

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        norm = torch.sqrt((self.w1(v) ** 2).sum(dim=1) + 1e-8)
        gate, s_out = torch.split(self.mlp(torch.cat([s, norm], dim=-1)), self.num_features, -1)
        return s_out, self.w2(v) * gate.unsqueeze(1)


class DirectForceHead(nn.Module):
    """Eq. 22: F_i = W_F v_i, a channel-wise linear map ``[N, 3, F] -> [N, 3]``.

    *Choice*: ``gated_blocks`` PaiNN gated equivariant blocks refine (s_i, v_i) before W_F
    (equivariant, as eq. 22); 0 gives the paper's plain linear head.
    """

    def __init__(self, num_features: int, gated_blocks: int = 1) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GatedEquivariantBlock(num_features)
                                    for _ in range(gated_blocks))
        self.linear = nn.Linear(num_features, 1, bias=False)

    def forward(self, v: torch.Tensor, s: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            s, v = block(s, v)
        return self.linear(v).squeeze(-1)


def conservative_forces(energy: torch.Tensor, pos: torch.Tensor, create_graph: bool
                        ) -> torch.Tensor:
    """Eq. 23: F = -dE/dx with autograd (``energy`` summed over graphs first)."""
    (grad,) = torch.autograd.grad(energy.sum(), pos, create_graph=create_graph,
                                  allow_unused=True)
    if grad is None:
        return torch.zeros_like(pos)
    return -grad
