"""Per-atom importance from the local contributions c_i (paper eq. 31).

    w_i = |c_i| / max_{j in G} |c_j|     in [0, 1], per graph G

(all-zero contributions give w = 0). ``c_i`` are model-derived attribution scores, not a unique
physical decomposition of the energy.
"""

from __future__ import annotations

import torch


def importance(contributions: torch.Tensor, batch: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 31 for every atom, normalised within its own graph."""
    a = contributions.detach().abs()
    if batch is None:
        batch = torch.zeros_like(a, dtype=torch.long)
    num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    peak = torch.zeros(num_graphs, dtype=a.dtype, device=a.device).scatter_reduce(
        0, batch, a, reduce="amax", include_self=True)
    denom = peak[batch]
    return torch.where(denom > 0, a / denom.clamp_min(torch.finfo(a.dtype).tiny),
                       torch.zeros_like(a))
