"""Put the adsorbate on the slab in a registered template's pose, and check for clashes.

* Same adsorbate as the template (same formula): its atoms take the template's adsorbate
  positions mapped by the registration (the learned pose, tilt and height included).
* Another adsorbate: the binding atom goes to the template binding atom's lateral position,
  the molecule in its reference orientation (binding atom down, along the normal) turned by
  the registration's azimuth, at the height where the closest contact is the covalent sum plus
  ``gap`` (:func:`~metalegnet.surface.placement.solve_height`, as AdsorbML's heuristic).

Clash: an adsorbate-substrate distance (minimum image) below ``clash_factor`` x the sum of
covalent radii, or an adsorbate atom below the highest substrate atom within 1.5 Å laterally.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms
from ase.data import covalent_radii

from metalegnet.surface.adsorbates import AdsorbateDef
from metalegnet.surface.detect import in_plane_images
from metalegnet.surface.environment import LocalEnvironment, formula
from metalegnet.surface.placement import solve_height
from metalegnet.surface.registration import Registration

#: Clash below this fraction of the covalent-radii sum.
CLASH_FACTOR = 0.75


def adsorbate_positions(template: LocalEnvironment, registration: Registration,
                        adsorbate: AdsorbateDef, slab: Atoms, gap: float = 0.1,
                        images: tuple[np.ndarray, np.ndarray] | None = None
                        ) -> tuple[np.ndarray, bool]:
    """Slab-frame positions (Å) of ``adsorbate``'s atoms (its own order) and whether the
    template's own pose was used (True) or the adsorbate was re-seated (False)."""
    ref = adsorbate.atoms()
    ads_idx = template.adsorbate_indices
    if formula(ref.get_chemical_symbols()) == template.adsorbate_formula:
        order = _match_order(ref.get_chemical_symbols(),
                             [template.symbols[i] for i in ads_idx],
                             ref.positions, template.positions[ads_idx],
                             adsorbate.binding_indices[0],
                             int(np.flatnonzero(ads_idx == template.binding)[0]))
        return registration.apply(template.positions[ads_idx][order]), True
    b = adsorbate.binding_indices[0]
    anchor = registration.apply(template.positions[template.binding][None])[0]
    local = (ref.positions - ref.positions[b]) @ registration.matrix.T
    pos = anchor + local
    sub_pos, sub_idx = images if images is not None else in_plane_images(slab)
    h = solve_height(pos, ref.numbers, sub_pos, slab.numbers[sub_idx], np.array([0, 0, 1.0]),
                     gap, 0.5)
    return pos + h * np.array([0.0, 0.0, 1.0]), False


def _match_order(symbols, t_symbols, ref_pos, t_pos, b_ref: int, b_t: int) -> np.ndarray:
    """For each atom of the reference adsorbate, the template adsorbate atom it becomes:
    binding atom to binding atom, the rest element by element by distance from it."""
    from scipy.optimize import linear_sum_assignment

    symbols, t_symbols = np.array(symbols), np.array(t_symbols)
    d_ref = np.linalg.norm(ref_pos - ref_pos[b_ref], axis=1)
    d_t = np.linalg.norm(t_pos - t_pos[b_t], axis=1)
    cost = (d_ref[:, None] - d_t[None, :]) ** 2 + 1e6 * (symbols[:, None] != t_symbols[None, :])
    cost[b_ref, :] += 1e3
    cost[b_ref, b_t] -= 1e3
    rows, cols = linear_sum_assignment(cost)
    order = np.empty(len(symbols), int)
    order[rows] = cols
    return order


def into_home_cell(slab: Atoms, positions: np.ndarray) -> np.ndarray:
    """The adsorbate ``positions`` (Å) moved rigidly by a whole in-plane lattice vector so
    that its first atom lies in the slab's in-plane cell (fractions in [0, 1)).

    A registration may map a template onto a periodic image of the site one or two cells
    away; the clash check compares with the slab's images one cell around the home cell
    only, so an adsorbate left out there would be checked against nothing."""
    cell = np.asarray(slab.cell)
    frac = np.linalg.solve(cell[:2, :2].T, positions[0, :2])
    return positions - np.floor(frac) @ cell[:2]


def build_adslab(slab: Atoms, adsorbate: AdsorbateDef, positions: np.ndarray) -> Atoms:
    """Slab atoms first (tags and FixAtoms kept), then the adsorbate tagged 2."""
    ads = adsorbate.atoms()
    ads.positions = positions
    ads.set_tags(np.full(len(ads), 2))
    out = slab.copy()
    constraints = out.constraints
    out.set_constraint()
    out.calc = None
    out.info.pop("adsorbate_info", None)  # ase.build's site dict: not extxyz-writable
    out.extend(ads)
    fixed = [c for c in constraints if isinstance(c, FixAtoms)]
    if fixed:
        out.set_constraint(FixAtoms(indices=np.unique(np.concatenate(
            [c.get_indices() for c in fixed]))))
    elif (slab.get_tags() == 0).any() and (slab.get_tags() == 1).any():
        out.set_constraint(FixAtoms(indices=np.flatnonzero(slab.get_tags() == 0)))
    return out


def too_close(slab: Atoms, positions: np.ndarray, numbers: np.ndarray,
              clash_factor: float = CLASH_FACTOR,
              images: tuple[np.ndarray, np.ndarray] | None = None) -> str | None:
    """Why an atom at ``positions`` (numbers ``numbers``) is closer than ``clash_factor`` x
    the covalent sum to an atom of ``slab`` or its in-plane images (None: none is)."""
    sub_pos, sub_idx = images if images is not None else in_plane_images(slab)
    sub_num = slab.numbers[sub_idx]
    d = np.linalg.norm(positions[:, None, :] - sub_pos[None, :, :], axis=-1)
    limit = clash_factor * (covalent_radii[numbers][:, None] + covalent_radii[sub_num][None])
    bad = np.argwhere(d < limit)
    if len(bad):
        a, s = bad[0]
        return (f"adsorbate atom {a} is {d[a, s]:.2f} Å from substrate atom {sub_idx[s]} "
                f"(limit {limit[a, s]:.2f} Å)")
    return None


def clash(slab: Atoms, positions: np.ndarray, numbers: np.ndarray,
          clash_factor: float = CLASH_FACTOR,
          images: tuple[np.ndarray, np.ndarray] | None = None) -> str | None:
    """Why the adsorbate at ``positions`` clashes with ``slab`` (None: no clash): an atom too
    close (:func:`too_close`) or one below the surface; ``images``: the slab's in-plane images
    (:func:`in_plane_images`), computed if not given."""
    sub_pos, sub_idx = images if images is not None else in_plane_images(slab)
    close = too_close(slab, positions, numbers, clash_factor, (sub_pos, sub_idx))
    if close is not None:
        return close
    lateral = np.linalg.norm(positions[:, None, :2] - sub_pos[None, :, :2], axis=-1)
    for a in range(len(positions)):
        near = lateral[a] < 1.5
        if near.any() and positions[a, 2] < sub_pos[near, 2].max():
            return f"adsorbate atom {a} lies below the surface"
    return None
