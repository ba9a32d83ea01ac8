"""vesin neighbour lists agree with ASE's for full PBC, mixed PBC and clusters."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list as ase_neighbor_list

from metalegnet.data.graph import atoms_to_graph, edge_vectors
from metalegnet.data.neighbors import neighbor_list
from metalegnet.testing.structures import cluster, slab_with_adsorbate


def _pairs(i, j, s):
    return sorted(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(s).tolist())))


@pytest.mark.parametrize("atoms", [slab_with_adsorbate((True, True, False)),
                                   slab_with_adsorbate((True, True, True)), cluster()],
                         ids=["pbc-TTF", "pbc-TTT", "cluster"])
@pytest.mark.parametrize("cutoff", [3.0, 6.0])
def test_same_edges_as_ase(atoms, cutoff):
    i, j, s = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    ai, aj, a_s = ase_neighbor_list("ijS", atoms, cutoff)
    assert _pairs(i, j, s) == _pairs(ai, aj, a_s)


def test_slab_without_vector_on_the_open_axis():
    atoms = slab_with_adsorbate((True, True, False))
    cell = atoms.cell.array.copy()
    cell[2] = 0.0  # a slab cell with no c vector
    i, j, s = neighbor_list(atoms.positions, cell, atoms.pbc, 5.0)
    ai, aj, a_s = ase_neighbor_list("ijS", atoms, 5.0)
    assert _pairs(i, j, s) == _pairs(ai, aj, a_s)


def test_edge_vectors_match_distances():
    atoms = slab_with_adsorbate((True, True, True))
    graph = atoms_to_graph(atoms, 5.0)
    d = edge_vectors(graph).norm(dim=-1).numpy()
    ad = ase_neighbor_list("d", atoms, 5.0)
    np.testing.assert_allclose(np.sort(d), np.sort(ad), atol=1e-5)
