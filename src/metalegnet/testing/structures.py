"""Small test structures: an OC20 slab frame, a mixed-PBC slab with adsorbate, a cluster."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import add_adsorbate, fcc111
from ase.cluster import Icosahedron
from scipy.spatial.transform import Rotation


def slab_with_adsorbate(pbc=(True, True, False), seed: int = 0) -> Atoms:
    """Pt(111) 2x2x3 with an OH adsorbate, bottom layer tagged 0 / fixed, jittered positions."""
    from ase.constraints import FixAtoms

    slab = fcc111("Pt", size=(2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, Atoms("OH", positions=[[0, 0, 0], [0.3, 0.2, 0.95]]), 2.0, "fcc")
    tags = np.ones(len(slab), dtype=int)
    tags[slab.positions[:, 2] < slab.positions[:, 2].min() + 0.5] = 0
    tags[-2:] = 2
    slab.set_tags(tags)
    slab.set_constraint(FixAtoms(indices=np.where(tags == 0)[0]))
    rng = np.random.default_rng(seed)
    slab.positions += rng.normal(scale=0.05, size=slab.positions.shape)
    slab.pbc = pbc
    return slab


def cluster(seed: int = 0) -> Atoms:
    """A 13-atom Cu icosahedron with CO on top, no PBC and no cell."""
    c = Icosahedron("Cu", noshells=2)
    top = c.positions[np.argmax(c.positions[:, 2])]
    c += Atoms("CO", positions=[top + [0, 0, 1.85], top + [0, 0, 3.0]])
    rng = np.random.default_rng(seed)
    c.positions += rng.normal(scale=0.05, size=c.positions.shape)
    c.cell = np.zeros((3, 3))
    c.pbc = False
    return c


def rotated(atoms: Atoms, seed: int = 0, with_cell: bool = True) -> Atoms:
    """A copy rotated by a random proper rotation about the origin (cell rotated too)."""
    r = Rotation.random(random_state=seed).as_matrix()
    out = atoms.copy()
    out.positions = atoms.positions @ r.T
    if with_cell and atoms.cell.rank > 0:
        out.set_cell(atoms.cell.array @ r.T, scale_atoms=False)
    return out, r
