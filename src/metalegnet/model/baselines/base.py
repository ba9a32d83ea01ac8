"""What every baseline adapter shares with LegNet: energy normalisation, periodic edges, output.

A baseline's library model predicts a model-unit energy ``E_model`` per graph (and, where the
library exposes them, per-atom terms ``c_i`` with ``sum_i c_i = E_model``). The adapter turns it
into eV exactly as LegNet does:

    E_G = sigma * E_model + mu_atom * N_G + mu_graph + sum_i eps_{Z_i}

and forces, eV/Å, as ``F = -dE/dx`` by autograd (``create_graph`` while training, so a force
loss can be backpropagated), through positions *and* the periodic image shifts of our edges.
"""

from __future__ import annotations

import importlib
import warnings

import torch
from torch import nn

from metalegnet.data.graph import AtomicGraph, edge_vectors
from metalegnet.errors import ConfigError, MetaLegNetError
from metalegnet.model.legnet import LegNetOutput, check_graph_cutoff
from metalegnet.model.normalization import NUM_ELEMENTS, EnergyNormalization, sum_per_graph
from metalegnet.model.readout import conservative_forces

#: how to get the optional libraries (the ``baselines`` extra holds torch-geometric)
PYG_INSTALL = "pip install 'metalegnet[baselines]'"


class BaselineUnavailableError(MetaLegNetError, RuntimeError):
    """A baseline cannot be built here: its library is missing or does not run with this torch."""


def import_library(module: str, model_name: str, how: str = PYG_INSTALL):
    """``importlib.import_module(module)``, or a one-line :class:`BaselineUnavailableError`.

    The libraries' import-time ``torch.jit.script`` deprecation warnings are silenced."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated",
                                    category=DeprecationWarning)
            return importlib.import_module(module)
    except ImportError as exc:
        raise BaselineUnavailableError(
            f"baseline {model_name!r} needs {module.split('.')[0]} ({exc}); install it with: "
            f"{how}") from None


def check_common(name: str, cutoff: float, force_head: str) -> None:
    """Validate the fields every baseline config has."""
    if cutoff <= 0:
        raise ConfigError(f"{name}.cutoff must be > 0 Å, got {cutoff}")
    if force_head != "conservative":
        raise ConfigError(f"{name}.force_head={force_head!r}: the library model has no native "
                          "force head, so forces are -dE/dx; use force_head='conservative'")


def check_positive(name: str, **values: int) -> None:
    for key, value in values.items():
        if value < 1:
            raise ConfigError(f"{name}.{key} must be >= 1, got {value}")


class PeriodicEdges:
    """Our periodic edges for one forward pass, cut at the model cutoff (the model's forward
    has already refused a graph built with a shorter one).

    ``centre``/``neighbour`` are the ``(i, j)`` of :class:`AtomicGraph` (the message flows
    j -> i); ``vec`` is ``r_ij = x_j - x_i + S_ij @ cell`` (differentiable), ``dist`` its norm.
    PyG's ``MessagePassing`` wants ``edge_index = [source, target] = [j, i]``: see ``pyg``.
    """

    def __init__(self, graph: AtomicGraph, pos: torch.Tensor, cutoff: float) -> None:
        vec = edge_vectors(graph, pos)
        dist = torch.linalg.vector_norm(vec, dim=-1)
        keep = dist < cutoff
        if not bool(keep.all()):
            vec, dist = vec[keep], dist[keep]
        self.centre = graph.edge_index[0][keep]
        self.neighbour = graph.edge_index[1][keep]
        self.offsets = graph.cell_offsets[keep]
        self.vec, self.dist = vec, dist

    @property
    def pyg(self) -> torch.Tensor:
        """``[2, E]`` edge index in PyG's ``(source, target)`` order."""
        return torch.stack([self.neighbour, self.centre])


class BaselineModel(nn.Module):
    """Base of the adapters: LegNet's composed normalisation and :class:`LegNetOutput`.

    Subclasses set ``self.config`` and implement ``energy_terms(graph, pos)`` returning
    ``(E_model [G], c_i [N] or None, latent [N, F] or None)`` in model units.
    """

    #: largest atomic number the library's embedding accepts (None: any up to 118)
    max_z: int | None = None
    name = "baseline"

    def __init__(self) -> None:
        super().__init__()
        self.normalization = EnergyNormalization(NUM_ELEMENTS)

    @property
    def cutoff(self) -> float:
        """Cutoff of the library model (Å): graphs must be built with at least this cutoff."""
        return float(self.config.cutoff)

    def needs_position_grad(self, compute_forces: bool = True) -> bool:
        """Forces are -dE/dx, so they always need autograd on positions."""
        return compute_forces

    def energy_terms(self, graph: AtomicGraph, pos: torch.Tensor):
        raise NotImplementedError

    def forward(self, graph: AtomicGraph, compute_forces: bool = True,
                create_graph: bool | None = None) -> LegNetOutput:
        """As :meth:`metalegnet.LegNet.forward` (``create_graph`` defaults to training)."""
        check_graph_cutoff(graph, self.config.cutoff, self.name)
        conservative = self.needs_position_grad(compute_forces)
        pos = graph.pos
        if conservative and not pos.requires_grad:
            pos = pos.detach().requires_grad_(True)
        if self.max_z is not None and graph.num_atoms and int(graph.z.max()) > self.max_z:
            raise ConfigError(f"{self.name} embeds atomic numbers up to {self.max_z}; the "
                              f"graph has Z={int(graph.z.max())}")
        e_model, contrib, latent = self.energy_terms(graph, pos)
        dtype, batch, n = pos.dtype, graph.batch, graph.num_atoms
        e_model = e_model.to(dtype)
        if contrib is None:
            contrib = torch.zeros(n, dtype=dtype, device=pos.device)
        if latent is None:
            latent = torch.zeros(n, 1, dtype=dtype, device=pos.device)
        # what the per-atom terms do not explain is spread evenly, so atoms sum to E_G
        rest = e_model - sum_per_graph(contrib, batch, graph.num_graphs)
        energy, atom_energies = self.normalization(contrib, rest, graph.z, batch, graph.natoms)
        forces = None
        if compute_forces:
            forces = conservative_forces(energy, pos, create_graph=self.training
                                         if create_graph is None else create_graph)
        return LegNetOutput(energy=energy, forces=forces, contributions=contrib,
                            atom_energies=atom_energies, latent=latent,
                            graph_correction=torch.zeros_like(energy))

    def extra_repr(self) -> str:
        from metalegnet.config import to_dict

        return ", ".join(f"{k}={v!r}" for k, v in to_dict(self.config).items())

