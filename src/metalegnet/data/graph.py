"""``AtomicGraph``: a batch of atomic structures as plain tensors, and batching.

One graph (or a batch of ``G`` graphs with ``N`` atoms and ``E`` directed edges in total):

=================  ==============  =====================================================
field              shape           meaning
=================  ==============  =====================================================
``z``              ``[N]`` long    atomic numbers
``pos``            ``[N, 3]``      Cartesian positions (Å)
``cell``           ``[G, 3, 3]``   cell per graph, rows are lattice vectors (Å)
``pbc``            ``[G, 3]`` bool periodicity per lattice vector
``batch``          ``[N]`` long    graph index of each atom
``natoms``         ``[G]`` long    atoms per graph
``edge_index``     ``[2, E]`` long ``(i, j)``: centre atom ``i``, neighbour ``j``
``cell_offsets``   ``[E, 3]``      integer image shift ``S_ij`` (stored as float)
``tags``           ``[N]`` long    OC20 tags: 0 subsurface/fixed, 1 surface, 2 adsorbate
``fixed``          ``[N]`` bool    atoms held by FixAtoms
``labels``         dict            graph-level ``[G]`` (``energy``, ``e_ads``,
                                   ``relaxed_energy``) and atom-level ``[N, 3]``
                                   (``forces``) targets, present where known
=================  ==============  =====================================================

The edge vector is ``r_ij = pos[j] - pos[i] + cell_offsets_ij @ cell[batch[i]]`` (Å), computed
by :func:`edge_vectors` in torch so gradients flow to positions and cell.
No torch-scatter / torch-cluster / pyg-lib: batching is concatenation with index offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import torch

from metalegnet.data.neighbors import neighbor_list

#: Label keys that live on atoms; every other label key is one value per graph.
ATOM_LABELS = ("forces",)


@dataclass
class AtomicGraph:
    """A batch of periodic or non-periodic atomic graphs (see the module docstring)."""

    z: torch.Tensor
    pos: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    batch: torch.Tensor
    natoms: torch.Tensor
    edge_index: torch.Tensor
    cell_offsets: torch.Tensor
    tags: torch.Tensor
    fixed: torch.Tensor
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    cutoff: float = 0.0

    @property
    def num_graphs(self) -> int:
        return int(self.natoms.shape[0])

    @property
    def num_atoms(self) -> int:
        return int(self.z.shape[0])

    def to(self, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> AtomicGraph:
        """Move tensors to ``device``; cast floating tensors to ``dtype`` when given."""

        def mv(t: torch.Tensor) -> torch.Tensor:
            if dtype is not None and t.is_floating_point():
                return t.to(device=device, dtype=dtype)
            return t.to(device=device)

        kwargs = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                kwargs[f.name] = mv(v)
        kwargs["labels"] = {k: mv(v) for k, v in self.labels.items()}
        return replace(self, **kwargs)


def edge_vectors(graph: AtomicGraph, pos: torch.Tensor | None = None) -> torch.Tensor:
    """``r_ij = x_j - x_i + S_ij @ cell`` for every edge, ``[E, 3]`` in Å (differentiable)."""
    pos = graph.pos if pos is None else pos
    i, j = graph.edge_index
    shift = torch.einsum("ek,ekl->el", graph.cell_offsets.to(pos.dtype),
                         graph.cell[graph.batch[i]].to(pos.dtype))
    return pos[j] - pos[i] + shift


def atoms_to_graph(atoms, cutoff: float, labels: dict[str, np.ndarray | float] | None = None,
                   dtype: torch.dtype = torch.float32) -> AtomicGraph:
    """Build a one-graph :class:`AtomicGraph` from an ASE ``Atoms``.

    Args:
        atoms: structure; tags and FixAtoms constraints are read when present.
        cutoff: neighbour-list cutoff r_c (Å).
        labels: optional targets: scalars (eV) for graph-level keys, ``[N, 3]`` arrays for
            ``forces`` (eV/Å).
        dtype: floating dtype of positions, cell and labels.
    """
    from ase.constraints import FixAtoms

    n = len(atoms)
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    cell = np.asarray(atoms.get_cell().array, dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    i, j, s = neighbor_list(pos, cell, pbc, cutoff)
    fixed = np.zeros(n, dtype=bool)
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            fixed[c.get_indices()] = True
    tags = np.asarray(atoms.get_tags(), dtype=np.int64) if n else np.zeros(0, np.int64)
    out_labels: dict[str, torch.Tensor] = {}
    for key, value in (labels or {}).items():
        if value is None:
            continue
        arr = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype)
        out_labels[key] = arr.reshape(n, 3) if key in ATOM_LABELS else arr.reshape(1)
    return AtomicGraph(
        z=torch.as_tensor(atoms.get_atomic_numbers(), dtype=torch.long),
        pos=torch.as_tensor(pos, dtype=dtype),
        cell=torch.as_tensor(cell, dtype=dtype).reshape(1, 3, 3),
        pbc=torch.as_tensor(pbc).reshape(1, 3),
        batch=torch.zeros(n, dtype=torch.long),
        natoms=torch.tensor([n], dtype=torch.long),
        edge_index=torch.as_tensor(np.stack([i, j]), dtype=torch.long).reshape(2, -1),
        cell_offsets=torch.as_tensor(s, dtype=dtype).reshape(-1, 3),
        tags=torch.as_tensor(tags, dtype=torch.long),
        fixed=torch.as_tensor(fixed),
        labels=out_labels,
        cutoff=float(cutoff),
    )


def collate(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Concatenate graphs into one batch, offsetting ``edge_index`` and ``batch``.

    A label is kept only when every graph in the batch has it.
    """
    if len(graphs) == 0:
        raise ValueError("collate() needs at least one graph")
    if len(graphs) == 1 and graphs[0].num_graphs == 1:
        return graphs[0]
    atom_offsets = np.cumsum([0] + [g.num_atoms for g in graphs[:-1]])
    graph_offsets = np.cumsum([0] + [g.num_graphs for g in graphs[:-1]])
    common = set(graphs[0].labels)
    for g in graphs[1:]:
        common &= set(g.labels)
    return AtomicGraph(
        z=torch.cat([g.z for g in graphs]),
        pos=torch.cat([g.pos for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        batch=torch.cat([g.batch + int(o) for g, o in zip(graphs, graph_offsets)]),
        natoms=torch.cat([g.natoms for g in graphs]),
        edge_index=torch.cat([g.edge_index + int(o) for g, o in zip(graphs, atom_offsets)],
                             dim=1),
        cell_offsets=torch.cat([g.cell_offsets for g in graphs]),
        tags=torch.cat([g.tags for g in graphs]),
        fixed=torch.cat([g.fixed for g in graphs]),
        labels={k: torch.cat([g.labels[k] for g in graphs]) for k in sorted(common)},
        cutoff=graphs[0].cutoff,
    )
