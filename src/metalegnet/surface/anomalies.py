"""Relaxation anomalies, detected as AdsorbML does (fairchem ``DetectTrajAnomaly``).

* ``desorbed``: no adsorbate atom is bonded to the substrate in the relaxed structure (bond:
  distance < 1.5x the sum of covalent radii, AdsorbML's desorption cushion).
* ``dissociated``: the adsorbate's internal bond graph changed between the first and the last
  frame. Bonds here use 1.2x the sum of covalent radii: at 1.0x (fairchem's value) a normal
  C-H bond (1.09 Å vs 0.76 + 0.31 Å) is not a bond, so a lost H would go unnoticed.
* ``surface_changed``: the substrate's bond graph in the relaxed adslab differs from the relaxed
  clean substrate's, beyond a 1.5x cushion in either direction (AdsorbML's reconstruction test).
  Substrate bonds use 1.1x the covalent sum: at 1.0x (fairchem) nearest neighbours of Pt, Au,
  Ag, ... (2.77 Å vs 2 x 1.36 Å for Pt) are not bonds and the test could never fire.
* ``intercalated``: an adsorbate atom is bonded (1.0x) to a held (tag 0) atom.
* ``exploded``: a frame's energy or forces are non-finite or beyond the physical bounds of
  training data (:data:`metalegnet.data.validate.MAX_FORCE` eV/Å on one atom,
  :data:`~metalegnet.data.validate.MAX_ENERGY_PER_ATOM` eV/atom): the oracle left its domain.

Flagged trajectories keep their frames (energies and forces are still valid) but get no
adsorption-energy label unless the user asks to keep anomalies. An ``exploded`` trajectory
never gets one, and its frames beyond the bounds lose their energy and forces
(:func:`drop_exploded_labels`), so no impossible label reaches a data set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list

from metalegnet.data.labels import get_labels, is_finite_label
from metalegnet.data.validate import MAX_ENERGY_PER_ATOM, MAX_FORCE, label_bound_problem

DESORPTION_MULT = 1.5
SURFACE_CUSHION = 1.5
SURFACE_BOND_MULT = 1.1
ADSORBATE_BOND_MULT = 1.2

#: The anomaly names in the order they are reported.
ANOMALIES = ("desorbed", "dissociated", "surface_changed", "intercalated", "exploded")


def connectivity(atoms: Atoms, mult: float = 1.0) -> np.ndarray:
    """Boolean bond matrix: distance < ``mult`` x (sum of covalent radii), periodic images
    included."""
    n = len(atoms)
    matrix = np.zeros((n, n), bool)
    if n < 2:
        return matrix
    i, j = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=mult))
    matrix[i, j] = True
    return matrix


def is_desorbed(final: Atoms, tags: np.ndarray) -> bool:
    ads = np.flatnonzero(tags == 2)
    sub = np.flatnonzero(tags != 2)
    bonds = connectivity(final, DESORPTION_MULT)
    return not bonds[np.ix_(ads, sub)].any()


def is_dissociated(initial: Atoms, final: Atoms, tags: np.ndarray) -> bool:
    ads = np.flatnonzero(tags == 2)
    # atoms[ads] keeps the cell, so bonds across the periodic boundary count.
    before = connectivity(initial[ads], ADSORBATE_BOND_MULT)
    after = connectivity(final[ads], ADSORBATE_BOND_MULT)
    return not np.array_equal(before, after)


def has_surface_changed(final: Atoms, relaxed_substrate: Atoms, tags: np.ndarray) -> bool:
    sub = np.flatnonzero(tags != 2)
    adslab_sub = final[sub]
    if len(adslab_sub) != len(relaxed_substrate):
        raise ValueError("relaxed substrate and adslab substrate differ in size")
    base, cushion = SURFACE_BOND_MULT, SURFACE_CUSHION
    new_bonds = connectivity(adslab_sub, base) & ~connectivity(relaxed_substrate, cushion)
    lost_bonds = connectivity(relaxed_substrate, base) & ~connectivity(adslab_sub, cushion)
    return bool(new_bonds.any() or lost_bonds.any())


def is_intercalated(final: Atoms, tags: np.ndarray) -> bool:
    ads = np.flatnonzero(tags == 2)
    held = np.flatnonzero(tags == 0)
    if not len(held):
        return False
    return bool(connectivity(final)[np.ix_(ads, held)].any())


def frame_exploded(frame: Atoms, max_force: float | None = MAX_FORCE,
                   max_energy_per_atom: float | None = MAX_ENERGY_PER_ATOM) -> bool:
    """Whether a frame's energy (eV) or forces (eV/Å) are non-finite or beyond the bounds."""
    labels = get_labels(frame)
    if not all(is_finite_label(v) for v in labels.values()):
        return True
    return label_bound_problem(labels, len(frame), max_force, max_energy_per_atom) is not None


def drop_exploded_labels(frames: Sequence[Atoms]) -> int:
    """Remove energy and forces from the frames beyond the bounds; return how many."""
    bad = [f for f in frames if frame_exploded(f)]
    for frame in bad:
        frame.calc = None
    return len(bad)


def detect_anomalies(initial: Atoms, final: Atoms, relaxed_substrate: Atoms | None,
                     frames: Sequence[Atoms] | None = None) -> list[str]:
    """Names of the anomalies of one relaxation (empty when it is clean).

    Args:
        initial, final: first and last frame of the adslab relaxation (tags 0/1/2).
        relaxed_substrate: the relaxed clean substrate (None: use the initial adslab's
            substrate, as fairchem does without a relaxed slab).
        frames: every frame of the relaxation, checked for ``exploded`` labels (default:
            ``initial`` and ``final``).
    """
    tags = initial.get_tags()
    if relaxed_substrate is None:
        relaxed_substrate = initial[np.flatnonzero(tags != 2)]
    found = []
    if is_desorbed(final, tags):
        found.append("desorbed")
    if is_dissociated(initial, final, tags):
        found.append("dissociated")
    if has_surface_changed(final, relaxed_substrate, tags):
        found.append("surface_changed")
    if is_intercalated(final, tags):
        found.append("intercalated")
    if any(frame_exploded(f) for f in (frames if frames is not None else (initial, final))):
        found.append("exploded")
    return found
