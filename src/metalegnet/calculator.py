"""``MetaLegNetCalculator``: an ASE calculator around a trained LegNet.

Properties: ``energy`` and ``free_energy`` (eV), ``forces`` (eV/Å), per-atom ``energies`` (eV,
summing to the energy). Extra results: ``contributions`` (c_i, eq. 19, model units) and
``importance`` (w_i = |c_i| / max_j |c_j|, eq. 31).
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from metalegnet.data.graph import atoms_to_graph
from metalegnet.errors import DataError
from metalegnet.explain.attribution import importance


def check_cell(atoms, source: str | None = None) -> None:
    """Refuse periodic boundary conditions with a zero (or degenerate) cell."""
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    if not pbc.any():
        return
    cell = np.asarray(atoms.get_cell().array)
    lengths = np.linalg.norm(cell, axis=1)
    if np.any(lengths[pbc] < 1e-8):
        axes = "".join("abc"[k] for k in range(3) if pbc[k] and lengths[k] < 1e-8)
        raise DataError(f"periodic boundary conditions with a zero cell vector ({axes}); "
                        "set a cell or use pbc=False", source=source)
    if pbc.all() and abs(np.linalg.det(cell)) < 1e-8:
        raise DataError("periodic boundary conditions with a degenerate cell (volume 0)",
                        source=source)


class MetaLegNetCalculator(Calculator):
    """ASE calculator for a :class:`metalegnet.LegNet` (or any model with its output)."""

    implemented_properties = ["energy", "free_energy", "forces", "energies"]

    def __init__(self, model: torch.nn.Module, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.device = torch.device(device) if device is not None else next(
            model.parameters()).device
        self.dtype = dtype or next(model.parameters()).dtype
        self.model = model.to(self.device, self.dtype).eval()
        self.cutoff = float(model.config.cutoff)

    @classmethod
    def from_checkpoint(cls, path, device: str | torch.device = "cpu", **kwargs
                        ) -> MetaLegNetCalculator:
        from metalegnet.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path, map_location=device)
        return cls(model, device=device, **kwargs)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        check_cell(self.atoms)
        graph = atoms_to_graph(self.atoms, self.cutoff, dtype=self.dtype).to(self.device)
        conservative = getattr(self.model.config, "force_head", "direct") == "conservative"
        with torch.set_grad_enabled(conservative):
            out = self.model(graph, compute_forces=True)
        energy = float(out.energy.detach().sum())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = out.forces.detach().cpu().double().numpy()
        self.results["energies"] = out.atom_energies.detach().cpu().double().numpy()
        c = out.contributions.detach()
        self.results["contributions"] = c.cpu().double().numpy()
        self.results["importance"] = importance(c).cpu().double().numpy()
