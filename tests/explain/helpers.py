"""Tiny models and structures for the explanation tests."""

from __future__ import annotations

import torch

from metalegnet import LegNet, LegNetConfig


def tiny_model(variant: str = "full", seed: int = 0) -> LegNet:
    torch.manual_seed(seed)
    model = LegNet(LegNetConfig(variant=variant, cutoff=4.5, num_features=8, num_blocks=1,
                                voxel_sizes=(4.0,)))
    model.normalization.set(scale=0.5, shift_atom=-1.0, known_elements=[1, 6, 8, 29, 78])
    return model.eval()


class ElementStub(torch.nn.Module):
    """A 'model' whose contributions are a fixed table c(Z): E = Σ_i c(Z_i) (eV), so the
    environment and every masking answer are known in closed form."""

    def __init__(self, table: dict[int, float], cutoff: float = 4.0) -> None:
        super().__init__()
        values = torch.zeros(119, dtype=torch.float64)
        for z, c in table.items():
            values[z] = c
        self.register_buffer("table", values)
        self.dummy = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.cutoff = cutoff

    def needs_position_grad(self, compute_forces: bool = True) -> bool:
        return False

    def forward(self, graph, compute_forces: bool = False):
        from types import SimpleNamespace

        c = self.table[graph.z]
        energy = torch.zeros(graph.num_graphs, dtype=c.dtype).index_add(0, graph.batch, c)
        return SimpleNamespace(energy=energy, contributions=c, atom_energies=c, forces=None,
                               gate=None, latent=c[:, None], voxel_index=())
