"""Name the adsorption site of an adsorbate's binding atom: top, bridge, fcc, hcp, hollow-4, ...

The binding atom's substrate neighbours are the substrate atoms within 1.2x the distance of the
closest one (a relative rule: bond lengths differ between oracles), provided that closest one is
bonded (within 1.5x the sum of covalent radii, AdsorbML's desorption cushion). One neighbour is
``top``, two ``bridge``; three are a 3-fold hollow, ``hcp`` when a subsurface atom lies right
below (within 0.9 Å laterally), ``fcc`` otherwise; four ``hollow-4``; more ``<n>-fold``; none
``none`` (the binding atom is not bound).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

#: Bond cutoff multiplier on the sum of covalent radii for a binding-atom/substrate contact.
BOND_MULT = 1.5
#: Neighbours are within this factor of the closest substrate distance.
SHELL = 1.2
#: Lateral tolerance (Å) for "a subsurface atom right below" (hcp vs fcc).
BELOW_TOL = 0.9


def surface_normal(atoms: Atoms, index: int, kind: str) -> np.ndarray:
    """Outward unit normal at atom ``index``: +z for slabs and sheets, radial for clusters."""
    if kind != "0d":
        return np.array([0.0, 0.0, 1.0])
    substrate = atoms.positions[atoms.get_tags() != 2]
    v = atoms.positions[index] - substrate.mean(axis=0)
    norm = np.linalg.norm(v)
    return v / norm if norm > 1e-8 else np.array([0.0, 0.0, 1.0])


def substrate_neighbours(atoms: Atoms, index: int, mult: float = BOND_MULT) -> np.ndarray:
    """Indices of the substrate (tag != 2) atoms in the first bonded shell of atom ``index``."""
    tags = atoms.get_tags()
    numbers = atoms.numbers
    r_max = covalent_radii[numbers[index]] + covalent_radii[numbers].max()
    i, j, d = neighbor_list("ijd", atoms, mult * r_max)
    sel = i == index
    j, d = j[sel], d[sel]
    limit = mult * (covalent_radii[numbers[index]] + covalent_radii[numbers[j]])
    sub = tags[j] != 2
    j, d, limit = j[sub], d[sub], limit[sub]
    if not len(d) or not (d < limit).any():
        return np.array([], int)
    shell = (d < SHELL * d[d < limit].min()) & (d < limit)
    return np.unique(j[shell])


def classify_site(atoms: Atoms, index: int, kind: str = "3d") -> str:
    """The site name of atom ``index`` (an adsorbate binding atom) on its substrate."""
    neighbours = substrate_neighbours(atoms, index)
    n = len(neighbours)
    if n == 0:
        return "none"
    if n == 1:
        return "top"
    if n == 2:
        return "bridge"
    if n == 4:
        return "hollow-4"
    if n > 4:
        return f"{n}-fold"
    normal = surface_normal(atoms, index, kind)
    i, j, vec = neighbor_list("ijD", atoms, 4.5)
    sel = (i == index) & (atoms.get_tags()[j] != 2) & ~np.isin(j, neighbours)
    return hollow_name(vec[sel], normal)


def hollow_name(vec: np.ndarray, normal: np.ndarray) -> str:
    """``hcp`` when one of the substrate vectors ``vec`` (Å, from a binding point over a
    3-fold hollow) points right below it (more than 0.5 Å down ``normal``, within
    ``BELOW_TOL`` laterally), ``fcc`` otherwise."""
    along = vec @ normal
    lateral = np.linalg.norm(vec - np.outer(along, normal), axis=1)
    return "hcp" if ((along < -0.5) & (lateral < BELOW_TOL)).any() else "fcc"


#: Suffix of a site label whose site atoms include a step-edge atom (``bridge-step``).
STEP_SUFFIX = "-step"


def step_edge_atoms(atoms: Atoms, surface: np.ndarray, shell: float = 1.2) -> np.ndarray:
    """The step-edge atoms among the ``surface`` atoms: those with the lowest substrate
    coordination number (neighbours within ``shell`` x the nearest-neighbour distance),
    when it is below the highest one among the surface atoms; none on a flat facet, where
    every surface atom has the same coordination (9 on fcc(111), 8 on fcc(100); 7 at the
    edge of fcc(211))."""
    surface = np.asarray(surface, int)
    sub = np.flatnonzero(atoms.get_tags() != 2)
    if len(surface) == 0 or len(sub) < 2:
        return np.array([], int)
    i, d = neighbor_list("id", atoms[sub], 4.5)
    cn = np.bincount(i[d < shell * d.min()], minlength=len(sub))
    cn_surface = cn[np.searchsorted(sub, surface)]  # surface atoms are substrate atoms
    if cn_surface.min() == cn_surface.max():
        return np.array([], int)
    return surface[cn_surface == cn_surface.min()]


def with_step(label: str, site_atoms, steps) -> str:
    """``label`` + :data:`STEP_SUFFIX` when one of ``site_atoms`` is a step-edge atom."""
    return label + STEP_SUFFIX if set(map(int, site_atoms)) & set(map(int, steps)) else label
