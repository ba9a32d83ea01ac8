"""Output block (eqs. 17-21) and the two force heads (eqs. 22-23).

    (17) e_i = MLP_e(s_i)                           raw local contribution
    (18) gamma_i = sigmoid(z_i - mean_{j in G} z_j),  z_i = MLP_g(s_i)    adsorption gate
    (19) c_i = gamma_i * e_i                        effective contribution (attribution score)
    (20) b_G = MLP_G(mean_i s_i [|| coarse context])   graph-level correction
         (times N_G when ``extensive``: a total energy must scale with the cell)
    (21) E = sum_i c_i + b_G                        (model units; LegNet rescales to eV)

*Choice* (beyond eq. 18): the gate logits are centred per graph. With the plain
sigmoid(MLP_g(s_i)) the gate collapsed to ~0 within the first epoch on every real set: the sum
of ~50 near-identical c_i carries an extensive offset at initialisation, its sign flips during
the first steps, and the gradient on the logits then pushes every atom's gate the same way at
full Adam speed; once gamma ~ 0 both dc/de and dc/dz vanish and the model predicts its energy
reference. Centred logits keep the graph-mean gate near 1/2, so gamma stays a *relative*
importance (what eq. 31's attribution needs) and cannot saturate as a whole. Centring is
invariant to repeating a periodic cell, so it keeps the energy extensive.

The coarse context of the ``coarsen`` variant enters MLP_G's first layer through its own
zero-initialised weights, so at initialisation b_G equals the vanilla model's.

    (22) direct force head  F_i = W_F v_i  (linear over channels; equivariant, not conservative)
    (23) conservative       F_i = -dE/dx_i (autograd)
"""

from __future__ import annotations

import torch
from torch import nn

from metalegnet.model.fusion import graph_mean


def mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SiLU(), nn.Linear(n_hidden, n_out))


def centred_gate(logits: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """Eq. 18 with centred logits: gamma_i = sigmoid(z_i - mean_{j in G} z_j), ``[N]``."""
    return torch.sigmoid(logits - graph_mean(logits, batch, num_graphs)[batch])


class OutputBlock(nn.Module):
    """Eqs. 17-21 (module docstring). ``context_features`` extra graph-level inputs feed b_G
    (``coarsen`` variant); ``extensive`` multiplies b_G by the number of atoms."""

    def __init__(self, num_features: int, context_features: int = 0,
                 extensive: bool = False) -> None:
        super().__init__()
        f = num_features
        self.extensive = bool(extensive)
        self.local = mlp(f, f, 1)
        self.gate = mlp(f, f, 1)
        self.graph = mlp(f, f, 1)
        self.context = None
        if context_features:
            with torch.random.fork_rng(devices=[]):  # leave the shared weights' draws alone
                self.context = nn.Linear(context_features, f, bias=False)
            nn.init.zeros_(self.context.weight)

    def forward(self, s: torch.Tensor, batch: torch.Tensor, num_graphs: int,
                context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        e = self.local(s).squeeze(-1)
        z = self.gate(s).squeeze(-1)
        gamma = centred_gate(z, batch, num_graphs)
        c = gamma * e
        hidden = self.graph[0](graph_mean(s, batch, num_graphs))
        if self.context is not None and context is not None:
            hidden = hidden + self.context(context)
        b = self.graph[2](self.graph[1](hidden)).squeeze(-1)
        if self.extensive:
            b = b * torch.bincount(batch, minlength=num_graphs).to(b.dtype)
        total = torch.zeros(num_graphs, dtype=s.dtype, device=s.device).index_add(0, batch, c)
        return {"local": e, "gate_logits": z, "gate": gamma, "contributions": c,
                "graph_correction": b, "energy": total + b}


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
