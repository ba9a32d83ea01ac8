"""``MetaLegNetCalculator``: an ASE calculator around a trained LegNet.

Properties: ``energy`` and ``free_energy`` (eV), ``forces`` (eV/Å), per-atom ``energies`` (eV,
summing to the energy). Extra results: ``contributions`` (c_i, eq. 19, model units) and
``importance`` (w_i = |c_i| / max_j |c_j|, eq. 31).
"""

from __future__ import annotations

import torch
from ase.calculators.calculator import Calculator, all_changes

from metalegnet import inference


class MetaLegNetCalculator(Calculator):
    """ASE calculator for a :class:`metalegnet.LegNet` (or any model with its interface).

    Each call goes through :mod:`metalegnet.inference`: the structure is checked (NaN
    positions, unknown or never-trained elements, zero cells, overlapping atoms give one-line
    :class:`~metalegnet.errors.DataError`), its graph is built with the model's cutoff, and
    the forward pass uses autograd only when the model's forces need it.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies"]

    def __init__(self, model: torch.nn.Module, device: str | torch.device | None = None,
                 dtype: torch.dtype | None = None, unseen_elements: str = "warn",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        device = torch.device(device) if device is not None else inference.model_device(model)
        self.model = model.to(device, dtype or inference.model_dtype(model)).eval()
        self.unseen_elements = unseen_elements

    @classmethod
    def from_checkpoint(cls, path, device: str | torch.device = "cpu", **kwargs
                        ) -> MetaLegNetCalculator:
        from metalegnet.checkpoint import load_checkpoint

        model, _ = load_checkpoint(path, map_location=device)
        return cls(model, device=device, **kwargs)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        (p,) = inference.predict(self.model, [self.atoms], batch_size=1,
                                 unseen=self.unseen_elements)
        self.results["energy"] = p.energy
        self.results["free_energy"] = p.energy
        self.results["forces"] = p.forces
        self.results["energies"] = p.energies
        self.results["contributions"] = p.contributions
        self.results["importance"] = p.importance
