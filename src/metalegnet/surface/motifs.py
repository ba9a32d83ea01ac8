"""Candidate local motifs (adsorption sites) of a slab: top, bridge, hollow-3, hollow-4.

From the surface atoms (:func:`~metalegnet.surface.detect.find_surface_atoms`) and their
in-plane periodic images, projected on the surface plane:

* ``top``: each surface atom;
* ``bridge``: each pair of surface atoms closer than ``bond_factor`` x ``d_nn``;
* ``hollow-3``: each Delaunay triangle whose three edges are bonds;
* ``hollow-4``: two Delaunay triangles sharing a non-bond edge (the diagonal of a square,
  ``sqrt(2) d_nn``) whose other four edges are bonds.

The site point is the centroid of its atoms (Å). Motifs whose local environment is the same
(site type, site elements, and the element-resolved distances from the site point to every
substrate atom within ``fingerprint_radius``, rounded to ``fingerprint_tol``) are symmetry
copies: only the first is kept, with its ``multiplicity``. On a random alloy nothing merges,
as it should.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from scipy.spatial import Delaunay

from metalegnet.surface.detect import (
    check_slab,
    find_surface_atoms,
    in_plane_images,
    nearest_neighbour_distance,
)

SITE_TYPES = ("top", "bridge", "hollow-3", "hollow-4")
#: A surface bond is shorter than this factor times the nearest-neighbour distance.
BOND_FACTOR = 1.25


@dataclass(frozen=True)
class Motif:
    """One candidate site.

    Attributes:
        site_type: top, bridge, hollow-3 or hollow-4.
        atoms: indices (into the slab) of the site's atoms.
        position: the site point, centroid of the site atoms' (image) positions (Å).
        composition: the site's elements, sorted and joined (``"Cu-Cu-Pt"``).
        multiplicity: how many symmetry-equivalent motifs this one stands for.
    """

    site_type: str
    atoms: tuple[int, ...]
    position: np.ndarray
    composition: str
    multiplicity: int = 1


def site_composition(symbols) -> str:
    """The site signature of a list of element symbols: sorted, joined by ``-``."""
    return "-".join(sorted(symbols))


def find_motifs(slab: Atoms, surface: np.ndarray | None = None, merge_equivalent: bool = True,
                fingerprint_radius: float = 5.0, fingerprint_tol: float = 0.05
                ) -> list[Motif]:
    """Every candidate site of ``slab`` (symmetry copies merged unless told otherwise)."""
    check_slab(slab, "slab")
    surface = find_surface_atoms(slab) if surface is None else np.asarray(surface)
    symbols = slab.get_chemical_symbols()
    sub = slab.get_tags() != 2
    d_nn = nearest_neighbour_distance(slab[np.flatnonzero(sub)])
    bond = BOND_FACTOR * d_nn
    tiled, owner = in_plane_images(slab[surface])
    owner = surface[owner]
    n0 = len(surface)
    motifs: list[Motif] = []
    seen: set[tuple[int, ...]] = set()

    def add(kind: str, image_ids) -> None:
        ids = tuple(sorted(int(owner[k]) for k in image_ids))
        # A site is counted once: when one of its images is in the home cell and its key new.
        key = (SITE_TYPES.index(kind),) + ids + _cell_key(slab, tiled[list(image_ids)].mean(0))
        if key in seen or not any(k < n0 for k in image_ids):
            return
        seen.add(key)
        motifs.append(Motif(kind, ids, tiled[list(image_ids)].mean(0),
                            site_composition(symbols[i] for i in ids)))

    for k in range(n0):
        add("top", (k,))
    tri = Delaunay(tiled[:, :2])
    edges: dict[tuple[int, int], list[int]] = {}
    for t, simplex in enumerate(tri.simplices):
        for a, b in ((0, 1), (1, 2), (0, 2)):
            e = tuple(sorted((int(simplex[a]), int(simplex[b]))))
            edges.setdefault(e, []).append(t)
    length = {e: float(np.linalg.norm(tiled[e[0]] - tiled[e[1]])) for e in edges}
    for e, ell in length.items():
        if ell < bond:
            add("bridge", e)
    for simplex in tri.simplices:
        s = [int(x) for x in simplex]
        sides = [length[tuple(sorted((s[a], s[b])))] for a, b in ((0, 1), (1, 2), (0, 2))]
        if max(sides) < bond:
            add("hollow-3", s)
    for e, ts in edges.items():
        if len(ts) != 2 or not bond <= length[e] < 1.2 * np.sqrt(2.0) * d_nn:
            continue
        quad = sorted(set(int(x) for t in ts for x in tri.simplices[t]))
        others = [q for q in quad if q not in e]
        sides = [length.get(tuple(sorted((a, b))), np.inf) for a in e for b in others]
        if len(quad) == 4 and max(sides) < bond:
            add("hollow-4", quad)
    if merge_equivalent:
        motifs = _merge(slab, motifs, fingerprint_radius, fingerprint_tol)
    return motifs


def _cell_key(slab: Atoms, point: np.ndarray) -> tuple[int, ...]:
    """Fractional in-plane position of a site point, wrapped and rounded (dedups images)."""
    frac = np.linalg.solve(slab.cell[:2, :2].T, point[:2])
    frac = np.round(frac % 1.0, 3) % 1.0
    return (int(round(frac[0] * 1000)) % 1000, int(round(frac[1] * 1000)) % 1000)


def motif_fingerprint(slab: Atoms, motif: Motif, radius: float = 5.0, tol: float = 0.05,
                      images: tuple[np.ndarray, np.ndarray] | None = None) -> tuple:
    """Site type, site elements and element-resolved sorted distances (rounded to ``tol``)
    from the site point to the substrate atoms within ``radius`` (Å). ``images``: the
    substrate's in-plane images (positions, symbols), computed when not given."""
    if images is None:
        sub = np.flatnonzero(slab.get_tags() != 2)
        pos, owner = in_plane_images(slab[sub], reps=2)
        images = (pos, np.array(slab.get_chemical_symbols())[sub][owner])
    pos, all_symbols = images
    d = np.linalg.norm(pos - motif.position, axis=1)
    near = d < radius
    symbols = all_symbols[near]
    pairs = sorted(zip(symbols.tolist(), np.round(d[near] / tol).astype(int).tolist()))
    return (motif.site_type, motif.composition, tuple(pairs))


def _merge(slab: Atoms, motifs: list[Motif], radius: float, tol: float) -> list[Motif]:
    groups: dict[tuple, list[Motif]] = {}
    sub = np.flatnonzero(slab.get_tags() != 2)
    pos, owner = in_plane_images(slab[sub], reps=2)
    images = (pos, np.array(slab.get_chemical_symbols())[sub][owner])
    for m in motifs:
        groups.setdefault(motif_fingerprint(slab, m, radius, tol, images), []).append(m)
    return [Motif(g[0].site_type, g[0].atoms, g[0].position, g[0].composition, len(g))
            for g in groups.values()]


def motif_label(slab: Atoms, motif: Motif,
                images: tuple[np.ndarray, np.ndarray] | None = None) -> str:
    """The site name of a motif, as :func:`~metalegnet.surface.sites.classify_site` names a
    binding atom there: ``hcp`` for a 3-fold hollow with a substrate atom right below a
    binding point 1 Å above its site point (within ``BELOW_TOL`` laterally, more than 0.5 Å
    below, within 4.5 Å: the second layer, not the third), ``fcc`` for the other 3-fold
    hollows, otherwise the site type (``top``, ``bridge``, ``hollow-4``). ``images``: the
    slab's in-plane images (positions, owner indices)."""
    from metalegnet.surface.sites import hollow_name

    if motif.site_type != "hollow-3":
        return motif.site_type
    pos, owner = images if images is not None else in_plane_images(slab)
    v = pos[slab.get_tags()[owner] != 2] - (motif.position + np.array([0.0, 0.0, 1.0]))
    return hollow_name(v[np.linalg.norm(v, axis=1) < 4.5], np.array([0.0, 0.0, 1.0]))
