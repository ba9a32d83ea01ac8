"""Rigid registration of a template environment onto a candidate motif of a new slab.

The template's surface atoms ``p_i`` (surface frame, origin at its site centroid) are fitted
to slab atoms ``q_{pi(i)}`` (in-plane periodic images included) near the motif's site point
``c`` by a rotation ``R`` about the surface normal and a translation ``t``::

    min_{R in SO(2) about z, t, pi}  sum_i |R p_i + t - q_{pi(i)}|^2

* The normal stays fixed (templates and slabs share the +z normal): the rotation comes from
  :meth:`scipy.spatial.transform.Rotation.align_vectors` with the normal pair given infinite
  weight (the "align-constrain" solution of Wahba's problem), the translation from the
  centroids of the matched pairs.
* Correspondence ``pi`` is element-aware: :func:`scipy.optimize.linear_sum_assignment` on
  squared distances, with element changes forbidden (``substitution_cost=None``) or charged
  ``substitution_cost`` Å^2 (a template of Cu-Pt then matches a Pd-Au site, flagged).
* A single start falls into wrong local optima, so ``n_azimuth`` starts ``R_k = rot_z(2 pi
  k / n)``, ``t = c`` are each assigned once; the ``n_refine`` cheapest get ``n_iter``
  assignment/fit rounds; the lowest RMSD wins.

RMSD (Å) is the root mean square of ``|R p_i + t - q_pi(i)|`` over the template's surface atoms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from metalegnet.config import check_fields
from metalegnet.surface.environment import LocalEnvironment

Z = np.array([0.0, 0.0, 1.0])
_FORBIDDEN = 1.0e6


@dataclass(frozen=True)
class RegistrationConfig:
    """Registration settings.

    Attributes:
        n_azimuth: azimuth starts about the normal.
        n_refine: the starts (lowest assignment cost) refined by assignment/fit rounds.
        n_iter: assignment/fit rounds per start.
        substitution_cost: cost (Å^2) of matching atoms of different elements; None forbids it.
        margin: target atoms are taken within the template's radius plus this (Å).
    """

    n_azimuth: int = 12
    n_refine: int = 3
    n_iter: int = 2
    substitution_cost: float | None = None
    margin: float = 1.5

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class Registration:
    """A fitted pose.

    Attributes:
        matrix: the 3x3 rotation (about the normal) taking template to slab frame.
        translation: the translation (Å).
        rmsd: RMSD over the template's surface atoms (Å).
        mapping: for each template surface atom, the matched slab atom index.
        substitutions: how many matched pairs differ in element.
    """

    matrix: np.ndarray
    translation: np.ndarray
    rmsd: float
    mapping: np.ndarray
    substitutions: int

    @property
    def rotation(self) -> Rotation:
        return Rotation.from_matrix(self.matrix)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Template-frame points (Å) in the slab frame."""
        return np.asarray(points, float) @ self.matrix.T + self.translation


def rot_z(theta: float) -> np.ndarray:
    """The 3x3 matrix of a rotation by ``theta`` (rad) about +z."""
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def fit_about_normal(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation matrix about +z and translation minimising ``sum |R p_i + t - q_i|^2``.

    Closed form of the normal-constrained Kabsch problem: with centred ``p'``, ``q'``, the
    angle is ``atan2(sum (p' x q')_z, sum p'_xy . q'_xy)``. It equals
    ``Rotation.align_vectors([z, q'], [z, p'], weights=[inf, 1, ...])`` (scipy's
    align-constrain solution; checked in the tests) at a fraction of its cost (~0.2 ms/call).
    """
    pc, qc = p.mean(axis=0), q.mean(axis=0)
    a, b = p - pc, q - qc
    cos = float((a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1]).sum())
    sin = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum())
    rot = rot_z(np.arctan2(sin, cos)) if abs(cos) + abs(sin) > 1e-12 else np.eye(3)
    return rot, qc - rot @ pc


def register(template: LocalEnvironment, target_pos: np.ndarray, target_symbols: np.ndarray,
             target_index: np.ndarray, site_point: np.ndarray,
             site_atoms: Sequence[int] | None = None, config: RegistrationConfig | None = None
             ) -> Registration | None:
    """Best pose of ``template`` on the slab atoms ``target_pos`` (Å; periodic images, with
    their elements and original indices) around ``site_point``; None when the elements cannot
    be matched (fewer target atoms of an element than the template needs, substitution off).

    ``site_atoms`` (slab indices of the motif's atoms): the template's site atoms may only be
    matched to these, so the pose sits on this motif and not on a look-alike next to it.
    Every azimuth start gets one assignment; the ``n_refine`` cheapest are refined.
    """
    config = config or RegistrationConfig()
    surf = template.surface_indices
    p = template.positions[surf]
    p_el = np.array(template.symbols)[surf]
    radius = float(np.linalg.norm(p[:, :2], axis=1).max(initial=0.0)) + config.margin
    near = np.linalg.norm(target_pos[:, :2] - site_point[:2], axis=1) < radius
    q_all, q_el, q_idx = target_pos[near], np.asarray(target_symbols)[near], target_index[near]
    if len(q_all) < len(p):
        return None
    mismatch = p_el[:, None] != q_el[None, :]
    if config.substitution_cost is None:
        for el in set(p_el.tolist()):
            if (q_el == el).sum() < (p_el == el).sum():
                return None
        penalty = np.where(mismatch, _FORBIDDEN, 0.0)
    else:
        penalty = np.where(mismatch, config.substitution_cost, 0.0)
    if site_atoms is not None:
        rows_site = np.searchsorted(surf, np.asarray(template.site, int))
        off_site = ~np.isin(q_idx, np.asarray(site_atoms, int))
        penalty[np.ix_(rows_site, off_site)] += _FORBIDDEN

    def assign(rot: np.ndarray, trans: np.ndarray):
        moved = p @ rot.T + trans
        cost = ((moved[:, None, :] - q_all[None, :, :]) ** 2).sum(-1) + penalty
        rows, cols = linear_sum_assignment(cost)
        return rows, cols, float(cost[rows, cols].sum()), moved

    angles = 2.0 * np.pi * np.arange(config.n_azimuth) / config.n_azimuth
    rots = np.stack([rot_z(a) for a in angles])
    trans0 = np.asarray(site_point, float)
    moved_all = np.einsum("kij,mj->kmi", rots, p) + trans0
    cost_all = ((moved_all[:, :, None, :] - q_all[None, None]) ** 2).sum(-1) + penalty
    starts = []
    for k in range(config.n_azimuth):
        rows, cols = linear_sum_assignment(cost_all[k])
        starts.append((float(cost_all[k][rows, cols].sum()), rots[k], trans0))
    starts.sort(key=lambda s: s[0])
    best = None
    for _, rot, trans in starts[: config.n_refine]:
        for _ in range(config.n_iter):
            rows, cols, _, _ = assign(rot, trans)
            rot, trans = fit_about_normal(p[rows], q_all[cols])
        rows, cols, total, moved = assign(rot, trans)
        subs = int(mismatch[rows, cols].sum())
        forbidden = penalty[rows, cols].max() >= _FORBIDDEN
        if forbidden or (config.substitution_cost is None and subs):
            continue
        rmsd = float(np.sqrt(((moved[rows] - q_all[cols]) ** 2).sum(-1).mean()))
        if best is None or rmsd < best[0] - 1e-9:
            mapping = np.empty(len(p), int)
            mapping[rows] = q_idx[cols]
            best = (rmsd, rot, trans, mapping, subs)
    if best is None:
        return None
    rmsd, rot, trans, mapping, subs = best
    return Registration(rot, trans, rmsd, mapping, subs)
