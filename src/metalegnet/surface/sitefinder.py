"""pymatgen's ``AdsorbateSiteFinder`` sites of a slab: what users enumerate today.

``AdsorbateSiteFinder`` takes the atoms within 0.9 Å (``height``) of the top along the surface
normal as surface atoms, triangulates them (Delaunay, periodic tiling) and returns ontop
(atoms), bridge (edge midpoints) and hollow (triangle centroids) points; ``symm_reduce``
removes symmetry copies (spglib, tolerance 1e-2) and ``near_reduce`` points closer than
1e-2 Å. Unreduced on a 2x2 fcc(111) slab: 4 ontop, 12 bridge, 8 hollow; reduced: 1, 1, 2.

The site points are returned at the height of the top surface atom (``distance=0``): the
adsorbate's height is solved by :func:`~metalegnet.surface.placement.upright_positions`.
Positions in Å, Cartesian, in the slab's frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from metalegnet.errors import ConfigError

#: pymatgen's site kinds, in the order it lists them.
SITE_KINDS = ("ontop", "bridge", "hollow")


@dataclass(frozen=True)
class Site:
    """One enumerated site: pymatgen's kind and the point (Å)."""

    kind: str
    point: np.ndarray


def pymatgen_sites(slab: Atoms, symm_reduce: bool = False) -> list[Site]:
    """pymatgen's adsorption sites of ``slab`` (no adsorbate), ontop, bridge then hollow.

    Args:
        slab: a clean slab, periodic in x and y, vacuum along +z.
        symm_reduce: remove symmetry copies (pymatgen's default, 1e-2) or keep every site.
    """
    try:
        from pymatgen.analysis.adsorption import AdsorbateSiteFinder
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError:
        raise ConfigError("pymatgen is needed for its AdsorbateSiteFinder sites: pip install "
                          "pymatgen (it is in the 'baselines' extra)") from None
    clean = slab.copy()
    clean.set_constraint()
    clean.calc = None
    structure = AseAtomsAdaptor.get_structure(clean)
    finder = AdsorbateSiteFinder(structure)
    found = finder.find_adsorption_sites(distance=0.0,
                                         symm_reduce=1e-2 if symm_reduce else 0)
    return [Site(kind, np.asarray(p, float)) for kind in SITE_KINDS for p in found[kind]]


def match_sites(sites: list[Site], among: list[Site], cell: np.ndarray, tol: float = 1e-3
                ) -> list[int]:
    """For each of ``sites``, the index of the same point (minimum image in x and y, within
    ``tol`` Å) in ``among``: e.g. where each symmetry-reduced site sits in the unreduced
    list. :class:`ConfigError` when one has no match."""
    cell = np.asarray(cell, float)
    inv = np.linalg.inv(cell.T)
    out = []
    for s in sites:
        d = np.array([t.point - s.point for t in among])
        frac = d @ inv.T
        frac[:, :2] -= np.round(frac[:, :2])
        dist = np.linalg.norm(frac @ cell, axis=1)
        j = int(np.argmin(dist))
        if dist[j] > tol:
            raise ConfigError(f"site {s.kind} at {np.round(s.point, 3).tolist()} is not "
                              f"among the {len(among)} sites given")
        out.append(j)
    return out
