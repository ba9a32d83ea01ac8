"""Energy normalisation and element references shared by LegNet and the baseline adapters.

    E_G = sigma * E_model + mu_atom * N_G + mu_graph + sum_{i in G} eps_{Z_i}     (eV)

sigma, mu_atom, mu_graph and eps_Z are buffers, so they travel with every state dict and
checkpoint; the trainer fits them on the training split.
"""

from __future__ import annotations

import torch
from torch import nn


class EnergyNormalization(nn.Module):
    """Buffers ``energy_scale``, ``energy_shift_atom``, ``energy_shift_graph`` and
    ``element_references`` (``[num_elements]``, eV per atom of element Z)."""

    def __init__(self, num_elements: int = 119) -> None:
        super().__init__()
        self.register_buffer("energy_scale", torch.tensor(1.0))
        self.register_buffer("energy_shift_atom", torch.tensor(0.0))
        self.register_buffer("energy_shift_graph", torch.tensor(0.0))
        self.register_buffer("element_references", torch.zeros(num_elements))

    def set_energy_normalization(self, scale: float = 1.0, shift_atom: float = 0.0,
                                 shift_graph: float = 0.0, element_references=None) -> None:
        """Set sigma, mu_atom, mu_graph (eV) and eps_Z (eV per atom of element Z)."""
        self.energy_scale.fill_(float(scale))
        self.energy_shift_atom.fill_(float(shift_atom))
        self.energy_shift_graph.fill_(float(shift_graph))
        refs = torch.zeros_like(self.element_references)
        if element_references is not None:
            r = torch.as_tensor(element_references, dtype=refs.dtype).flatten()
            refs[: min(len(r), len(refs))] = r[: len(refs)]
        self.element_references.copy_(refs)
