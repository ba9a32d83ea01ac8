"""Energy normalisation: the one module that turns model units into eV, shared by LegNet and
every baseline adapter (each model *composes* one as ``model.normalization``).

    E_G   = sigma * E_model + mu_atom * N_G + mu_graph + sum_{i in G} eps_{Z_i}          (eV)
    E_i   = sigma * c_i + mu_atom + eps_{Z_i} + (sigma * r_G + mu_graph) / N_G            (eV)

with ``E_model = sum_i c_i + r_G`` the model-unit energy of graph G, ``c_i`` its per-atom terms
and ``r_G`` the part they do not explain (LegNet's b_G), spread evenly so the atoms sum to E_G.
sigma (eV per model unit), mu_atom (eV/atom), mu_graph (eV) and eps_Z (eV per atom of element
Z) are buffers, with the atomic numbers seen in training: they travel with the state dict, and
a checkpoint stores them once, there. The trainer fits them on the training split;
meta-learning can swap the module per task (:meth:`EnergyNormalization.copy_from`).
"""

from __future__ import annotations

import torch
from torch import nn

#: element-reference table size (Z = 0..118)
NUM_ELEMENTS = 119


def sum_per_graph(values: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """``[N] -> [G]`` sum with ``index_add`` (no torch-scatter)."""
    return values.new_zeros(num_graphs).index_add(0, batch, values)


class EnergyNormalization(nn.Module):
    """Buffers ``energy_scale`` (sigma), ``energy_shift_atom`` (mu_atom),
    ``energy_shift_graph`` (mu_graph) and ``element_references`` (eps_Z, ``[119]``)."""

    def __init__(self, num_elements: int = NUM_ELEMENTS) -> None:
        super().__init__()
        self.register_buffer("energy_scale", torch.tensor(1.0))
        self.register_buffer("energy_shift_atom", torch.tensor(0.0))
        self.register_buffer("energy_shift_graph", torch.tensor(0.0))
        self.register_buffer("element_references", torch.zeros(num_elements))
        # elements of the training split (all, until a trainer says otherwise)
        self.register_buffer("known_elements", torch.ones(num_elements, dtype=torch.bool))

    def set(self, scale: float = 1.0, shift_atom: float = 0.0, shift_graph: float = 0.0,
            element_references=None, known_elements=None) -> None:
        """Set sigma, mu_atom, mu_graph (eV), eps_Z (eV per atom of element Z) and, when
        given, the atomic numbers seen in training (inference refuses others)."""
        if known_elements is not None:
            known = torch.zeros_like(self.known_elements)
            known[torch.as_tensor(sorted(known_elements), dtype=torch.long)] = True
            self.known_elements.copy_(known)
        self.energy_scale.fill_(float(scale))
        self.energy_shift_atom.fill_(float(shift_atom))
        self.energy_shift_graph.fill_(float(shift_graph))
        refs = torch.zeros_like(self.element_references)
        if element_references is not None:
            r = torch.as_tensor(element_references, dtype=refs.dtype).flatten()
            refs[: min(len(r), len(refs))] = r[: len(refs)]
        self.element_references.copy_(refs)

    def copy_from(self, other: EnergyNormalization) -> None:
        """Take ``other``'s constants (e.g. a per-task normalisation in meta-learning)."""
        self.load_state_dict(other.state_dict())

    def reference(self, z: torch.Tensor, batch: torch.Tensor, natoms: torch.Tensor
                  ) -> torch.Tensor:
        """The energy with the model's part at zero, ``mu_atom N + mu_graph + sum eps_Z``
        ``[G]`` (eV): what a model that learned nothing predicts."""
        dtype = self.energy_scale.dtype
        refs = self.element_references.to(dtype)[z]
        return (self.energy_shift_atom * natoms.to(dtype) + self.energy_shift_graph
                + sum_per_graph(refs, batch, natoms.shape[0]))

    def forward(self, contributions: torch.Tensor, rest: torch.Tensor, z: torch.Tensor,
                batch: torch.Tensor, natoms: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E_G [G], E_i [N])`` in eV from per-atom terms ``c_i`` ``[N]`` and the graph
        remainder ``r_G`` ``[G]`` (model units; see the module docstring)."""
        dtype = contributions.dtype
        sigma = self.energy_scale.to(dtype)
        mu_atom, mu_graph = self.energy_shift_atom.to(dtype), self.energy_shift_graph.to(dtype)
        n = natoms.to(dtype)
        refs = self.element_references.to(dtype)[z]
        e_model = sum_per_graph(contributions, batch, n.shape[0]) + rest
        energy = (sigma * e_model + mu_atom * n + mu_graph
                  + sum_per_graph(refs, batch, n.shape[0]))
        atom = (sigma * contributions + mu_atom + refs
                + ((sigma * rest + mu_graph) / n.clamp(min=1))[batch])
        return energy, atom

    def extra_repr(self) -> str:
        return (f"sigma={float(self.energy_scale):.4g} eV, "
                f"mu_atom={float(self.energy_shift_atom):.4g} eV, "
                f"mu_graph={float(self.energy_shift_graph):.4g} eV")


def legacy_state_dict(state: dict) -> dict:
    """Rename the normalisation buffers of checkpoints written before the module was composed
    (``energy_scale`` -> ``normalization.energy_scale``, ...)."""
    names = ("energy_scale", "energy_shift_atom", "energy_shift_graph", "element_references")
    out = {(f"normalization.{k}" if k in names else k): v for k, v in state.items()}
    if "normalization.energy_scale" in out and "normalization.known_elements" not in out:
        n = len(out["normalization.element_references"])
        out["normalization.known_elements"] = torch.ones(n, dtype=torch.bool)
    return out
