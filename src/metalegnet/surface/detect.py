"""Which atoms of a slab are surface atoms, and its in-plane periodic images.

A slab here is periodic in its first two cell vectors with vacuum along +z, the outward
surface normal (the OC20 and ``ase.build`` convention).

* ``tags``: OC20 tags, 1 = surface (0 = subsurface/fixed, 2 = adsorbate).
* ``geometry``: an atom is a surface atom when no other substrate atom (periodic images
  included) lies above it (more than ``min_rise`` Å higher along z) within a lateral distance
  of ``lateral_factor`` x the nearest-neighbour distance ``d_nn``. On fcc(111) the second layer
  sits under a hollow at ``d_nn/sqrt(3)`` laterally, on (100) at ``d_nn/sqrt(2)``: both are
  covered at the default 0.75; step-edge and lower-terrace atoms of (211) are not.
* ``auto`` (default): the tag-1 atoms that the geometry also finds uncovered, or the
  geometry alone when no atom is tagged 1. Tag 1 in real data sets marks the relaxed top
  *layers*, not only the exposed atoms: the tag-1 set differs from the uncovered atoms in
  all 1,791 wwl-gpr and all 3,108 GAME-Net FG structures and in 4,060 of the 5,296 OC20
  sample frames (wwl-gpr Pt(211): 18 tag-1 atoms, 9 uncovered), and
  the atoms under a step edge then split its bridges in the site triangulation. The tags
  still bound the search (a symmetric slab's bottom face, a support's atoms left untagged).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from metalegnet.errors import DataError

#: Lateral cover radius in units of the nearest-neighbour distance.
LATERAL_FACTOR = 0.75
#: An atom counts as "above" when it is this much higher (Å).
MIN_RISE = 0.5


def check_slab(atoms: Atoms, name: str = "structure") -> None:
    """:class:`DataError` unless ``atoms`` is a slab periodic in x and y."""
    if len(atoms) == 0:
        raise DataError(f"{name}: no atoms")
    if not (atoms.pbc[0] and atoms.pbc[1]):
        raise DataError(f"{name}: not a slab (needs periodic x and y cell vectors, got pbc="
                        f"{atoms.pbc.tolist()}); SEAM places adsorbates on slabs only")
    if abs(np.linalg.det(atoms.cell[:2, :2])) < 1e-6:
        raise DataError(f"{name}: the in-plane cell has zero area")


def in_plane_images(atoms: Atoms, reps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Positions (Å) of every atom and its in-plane images ``-reps..reps`` and the index of
    the original atom of each image (images ordered shift by shift, shift (0, 0) first)."""
    shifts = [(0, 0)] + [(i, j) for i in range(-reps, reps + 1) for j in range(-reps, reps + 1)
                         if (i, j) != (0, 0)]
    vec = np.array([i * atoms.cell[0] + j * atoms.cell[1] for i, j in shifts])
    pos = (atoms.positions[None, :, :] + vec[:, None, :]).reshape(-1, 3)
    return pos, np.tile(np.arange(len(atoms)), len(shifts))


def in_plane_mic(cell, d: np.ndarray) -> np.ndarray:
    """Displacements ``d`` (Å, shape (..., 3)) with whole in-plane cell vectors removed: the
    fractional in-plane components rounded to the nearest integer (the z component kept)."""
    cell = np.asarray(cell)
    frac = np.linalg.solve(cell.T, np.asarray(d, float).reshape(-1, 3).T).T
    frac[:, :2] -= np.round(frac[:, :2])
    return (frac @ cell).reshape(np.shape(d))


def nearest_neighbour_distance(atoms: Atoms) -> float:
    """The shortest interatomic distance (Å), periodic images included."""
    pos, _ = in_plane_images(atoms)
    n = len(atoms)
    d = np.linalg.norm(atoms.positions[:, None, :] - pos[None, :, :], axis=-1)
    d[np.arange(n), np.arange(n)] = np.inf
    return float(d.min())


def find_surface_atoms(atoms: Atoms, method: str = "auto",
                       lateral_factor: float = LATERAL_FACTOR, min_rise: float = MIN_RISE
                       ) -> np.ndarray:
    """Indices of the substrate's surface atoms (sorted).

    Args:
        atoms: a slab (adsorbate atoms, tag 2, are ignored).
        method: ``tags`` (tag 1), ``geometry`` (uncovered atoms) or ``auto`` (the uncovered
            tag-1 atoms; geometry when none is tagged 1); see the module docstring.
    """
    if method not in ("auto", "tags", "geometry"):
        raise DataError(f"surface-atom method must be auto, tags or geometry, got {method!r}")
    tags = atoms.get_tags()
    if method == "tags" or (method == "auto" and (tags == 1).any()):
        found = np.flatnonzero(tags == 1)
        if not len(found):
            raise DataError("no atom is tagged 1 (surface); use the geometry method")
        if method == "tags":
            return found
        uncovered = found[np.isin(found, _uncovered(atoms, lateral_factor, min_rise))]
        return uncovered if len(uncovered) else found
    return _uncovered(atoms, lateral_factor, min_rise)


def _uncovered(atoms: Atoms, lateral_factor: float, min_rise: float) -> np.ndarray:
    """The ``geometry`` method of the module docstring."""
    tags = atoms.get_tags()
    substrate = np.flatnonzero(tags != 2)
    sub = atoms[substrate]
    d_nn = nearest_neighbour_distance(sub) if len(sub) > 1 else 1.0
    pos, _ = in_plane_images(sub)
    rise = pos[None, :, 2] - sub.positions[:, None, 2]
    lateral = np.linalg.norm(pos[None, :, :2] - sub.positions[:, None, :2], axis=-1)
    covered = ((rise > min_rise) & (lateral < lateral_factor * d_nn)).any(axis=1)
    return substrate[~covered]


#: Elements taken for adsorbate atoms when a structure carries no tag 2.
ADSORBATE_ELEMENTS = frozenset({"H", "B", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I"})


def layer_tags(atoms: Atoms) -> bool:
    """Whether the tags are ``ase.build``'s layer numbers (1 = top layer, 2 = the one below,
    ...; ``add_adsorbate`` tags the adsorbate 0) rather than OC20 tags: a tag 3 or more exists
    (OC20 tags stop at 2), tags 1 and 2 exist and the tag-2 atoms lie below the tag-1 atoms on
    average (OC20's adsorbate, tag 2, lies above its surface, tag 1)."""
    tags = atoms.get_tags()
    if not ((tags == 1).any() and (tags == 2).any() and tags.max() >= 3):
        return False
    z = atoms.positions[:, 2]
    return bool(z[tags == 1].mean() > z[tags == 2].mean() + 0.5)


def surface_frame(atoms: Atoms) -> Atoms:
    """A copy in this package's surface frame: the in-plane cell vectors a, b horizontal
    (the structure turned so that a x b points along z) and the adsorbate (tag 2), if any, on
    the +z face (turned 180 degrees about x when its mean height lies below the substrate's).
    Rotations only, the cell turned with the atoms: every periodic distance is kept.

    SEAM, the environment database and the site labels take +z as the outward normal and
    look for neighbours one in-plane cell away. In wwl-simple, 241 of the 1,174 (211)
    structures have in-plane vectors that rise out of the xy plane and 185 hold their
    adsorbate on the bottom face; ``ase.build`` slabs are already in this frame (unchanged).
    """
    out = atoms.copy()
    if out.pbc[0] and out.pbc[1]:
        n = np.cross(out.cell[0], out.cell[1])
        n = n / np.linalg.norm(n)
        if n[2] < 0:
            n = -n
        if n[2] < 1.0 - 1e-10:
            out.rotate(n, (0.0, 0.0, 1.0), rotate_cell=True)
    ads = out.get_tags() == 2
    if ads.any() and (~ads).any():
        z = out.positions[:, 2]
        if z[ads].mean() < z[~ads].mean():
            out.rotate(180.0, "x", rotate_cell=True)
    return out


def with_oc20_tags(atoms: Atoms) -> Atoms:
    """A copy tagged as OC20 does (2 adsorbate, 1 surface, 0 the rest), tags kept when the
    structure already has adsorbate tags (``ase.build`` layer numbers are not: see
    :func:`layer_tags`).

    Without tag 2: the adsorbate is the non-metal atoms (:data:`ADSORBATE_ELEMENTS`) lying
    above the highest other atom minus 0.5 Å, and those bonded to them among the non-metal
    atoms (so the H of an OH counts); the surface atoms are found by geometry.
    """
    out = atoms.copy()
    if layer_tags(out):
        out.set_tags(0)
    tags = out.get_tags()
    if (tags == 2).any():
        if not (tags == 1).any():
            sub = np.flatnonzero(tags != 2)
            surf = sub[find_surface_atoms(out[sub], "geometry")]
            tags = tags.copy()
            tags[surf] = 1
            out.set_tags(tags)
        return out
    symbols = np.array(out.get_chemical_symbols())
    light = np.isin(symbols, list(ADSORBATE_ELEMENTS))
    tags = np.zeros(len(out), int)
    if light.any() and (~light).any():
        top = out.positions[~light, 2].max()
        ads = light & (out.positions[:, 2] > top - 0.5)
        changed = bool(ads.any())
        while changed:  # grow through bonds among light atoms
            changed = False
            for i in np.flatnonzero(light & ~ads):
                d = out.get_distances(i, np.flatnonzero(ads), mic=True)
                if len(d) and d.min() < 1.6:
                    ads[i] = changed = True
        tags[ads] = 2
    sub = np.flatnonzero(tags != 2)
    if len(sub) and out.pbc[0] and out.pbc[1]:
        tags[sub[find_surface_atoms(out[sub], "geometry")]] = 1
    out.set_tags(tags)
    return out
