"""Neighbour lists from vesin for full PBC, mixed PBC (slabs, ``[T, T, F]``) and clusters.

For atoms ``i`` and ``j`` the edge vector is

    r_ij = x_j - x_i + S_ij @ cell            (Å)

with ``S_ij`` the integer cell shift of the periodic image of ``j``. Only ``(i, j, S)`` are
computed here (no gradients); the model rebuilds ``r_ij`` in torch so forces and stresses flow
through positions and cell.
"""

from __future__ import annotations

import numpy as np
import vesin


def _usable_box(cell: np.ndarray, pbc: np.ndarray) -> np.ndarray:
    """Return a box vesin accepts: periodic axes keep their vectors; a zero vector on a
    non-periodic axis is replaced by a long vector orthogonal to the others (it is never used
    for shifts, since that axis is not periodic)."""
    box = np.array(cell, dtype=np.float64, copy=True)
    if not pbc.any():
        return np.zeros((3, 3))
    lengths = np.linalg.norm(box, axis=1)
    for k in range(3):
        if not pbc[k] and lengths[k] < 1e-8:
            others = [box[m] for m in range(3) if m != k]
            normal = np.cross(others[0], others[1])
            norm = np.linalg.norm(normal)
            if norm < 1e-8:  # only one periodic axis: pick any orthogonal direction
                a = others[0] if np.linalg.norm(others[0]) > 1e-8 else others[1]
                trial = np.eye(3)[np.argmin(np.abs(a))]
                normal = np.cross(a, trial)
                norm = np.linalg.norm(normal)
            box[k] = normal / norm * 1e3
    return box


def neighbor_list(positions: np.ndarray, cell: np.ndarray, pbc, cutoff: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full (both directions) neighbour list within ``cutoff`` (Å).

    Args:
        positions: ``[N, 3]`` Cartesian positions (Å).
        cell: ``[3, 3]`` cell, rows are lattice vectors (Å); ignored on non-periodic axes.
        pbc: three booleans (or one) for periodicity along each lattice vector.
        cutoff: radial cutoff (Å).

    Returns:
        ``(i, j, S)``: int64 arrays ``[E]``, ``[E]`` and ``[E, 3]`` (integer cell shifts).
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    n = len(positions)
    if n == 0:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3), np.int64))
    box = _usable_box(np.asarray(cell, dtype=np.float64), pbc)
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=True)
    i, j, s = nl.compute(points=positions, box=box, periodic=pbc.tolist() if pbc.any() else False,
                         quantities="ijS")
    s = np.asarray(s, dtype=np.int64).reshape(-1, 3)
    return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), s
