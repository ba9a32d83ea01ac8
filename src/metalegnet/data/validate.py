"""Checks that catch unusable structures before they reach a model.

Each problem raises :class:`metalegnet.errors.DataError` with one line that names the file,
the structure (index, ``sid``) and the problem, e.g.
``runs/a.extxyz [index 3, sid=a_3]: atoms 0 and 4 overlap: 0.120 Å apart (< 0.5 Å)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from metalegnet.data.labels import get_labels, is_finite_label
from metalegnet.data.neighbors import neighbor_list
from metalegnet.errors import DataError

_MAX_Z = len(chemical_symbols) - 1  # 118
_SEARCH_CUTOFF = 3.0  # Å
#: Largest physical force on one atom (eV/Å, Euclidean norm): 28x the largest in the embedded
#: sets (oc20-mini first frames, 355 eV/Å); beyond it the calculation exploded.
MAX_FORCE = 1e4
#: Largest physical |E| / N of an energy label (eV/atom): 20x the largest embedded set
#: (mamun-subset plane-wave totals, 5.1e3 eV/atom); all-electron totals reach 1e5 eV/atom at
#: about Z = 40 and 1.4e6 eV/atom at Z = 118, so such data need a larger bound.
MAX_ENERGY_PER_ATOM = 1e5
_ENERGY_LABELS = ("energy", "e_ads", "relaxed_energy", "relaxed_e_ads")


def _error(atoms: Atoms, problem: str, source: str | None, index: int | None) -> DataError:
    info = atoms.info
    source = source if source is not None else info.get("source")
    index = index if index is not None else info.get("index")
    sid = info.get("sid")
    return DataError(problem, source=source, index=index,
                     sid=None if sid is None else str(sid))


def _check_positions(pos: np.ndarray) -> str | None:
    bad = np.flatnonzero(~np.isfinite(pos).all(axis=1))
    if bad.size:
        return f"NaN or inf in positions of {bad.size} atom(s) (first: atom {int(bad[0])})"
    return None


def _check_elements(numbers: np.ndarray) -> str | None:
    bad = np.flatnonzero((numbers <= 0) | (numbers > _MAX_Z))
    if bad.size:
        z = int(numbers[bad[0]])
        name = f"'{chemical_symbols[z]}', Z=0" if z == 0 else f"Z={z}"
        return f"unknown element ({name}) on atom {int(bad[0])}"
    return None


def _check_cell(cell: np.ndarray, pbc: np.ndarray) -> str | None:
    if not np.isfinite(cell).all():
        return "NaN or inf in cell"
    if not pbc.any():
        return None
    axes = np.flatnonzero(pbc)
    lengths = np.linalg.norm(cell, axis=1)
    zero = [int(k) for k in axes if lengths[k] < 1e-6]
    if zero:
        return (f"zero cell vector on periodic axis {zero[0]} "
                f"(pbc={''.join('T' if p else 'F' for p in pbc)})")
    sv = np.linalg.svd(cell[axes], compute_uv=False)
    if sv[-1] < 1e-6 * sv[0]:
        return "degenerate cell: the periodic lattice vectors are linearly dependent"
    return None


def _check_overlap(pos: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
                   min_distance: float) -> str | None:
    # vesin's cell list is slow for tiny cutoffs (many bins): search wider, then filter
    i, j, s = neighbor_list(pos, cell, pbc, max(min_distance, _SEARCH_CUTOFF))
    d = np.linalg.norm(pos[j] - pos[i] + s @ cell, axis=1)
    keep = ((i < j) | ((i == j) & s.any(axis=1))) & (d < min_distance)
    if not keep.any():
        return None
    i, j, s, d = i[keep], j[keep], s[keep], d[keep]
    k = int(np.argmin(d))
    if i[k] == j[k]:
        return (f"atom {int(i[k])} overlaps its own periodic image: {d[k]:.3f} Å apart "
                f"(< {min_distance} Å; cell too small)")
    image = " (periodic image)" if s[k].any() else ""
    return (f"atoms {int(i[k])} and {int(j[k])} overlap{image}: {d[k]:.3f} Å apart "
            f"(< {min_distance} Å)")


def label_bound_problem(labels: dict, natoms: int, max_force: float | None = MAX_FORCE,
                        max_energy_per_atom: float | None = MAX_ENERGY_PER_ATOM
                        ) -> str | None:
    """Why finite labels are physically impossible, or ``None``: a force on one atom above
    ``max_force`` (eV/Å, norm) or an energy label with |E| / N above ``max_energy_per_atom``
    (eV/atom). ``None`` bounds are not checked."""
    forces = labels.get("forces")
    if max_force is not None and forces is not None and len(forces):
        norms = np.linalg.norm(forces, axis=1)
        atom = int(np.argmax(norms))
        if norms[atom] > max_force:
            return (f"label 'forces' is {norms[atom]:.3g} eV/Å on atom {atom}, above the "
                    f"physical bound max_force={max_force:g} eV/Å (an exploded calculation?)")
    for key in _ENERGY_LABELS:
        if max_energy_per_atom is None or key not in labels:
            continue
        per_atom = abs(float(labels[key])) / max(natoms, 1)
        if per_atom > max_energy_per_atom:
            return (f"label {key!r} is {float(labels[key]):.4g} eV ({per_atom:.3g} eV/atom), "
                    f"above the physical bound max_energy_per_atom={max_energy_per_atom:g} "
                    "eV/atom (an exploded calculation?)")
    return None


def _check_labels(atoms: Atoms, energy_key: str | None, max_force: float | None,
                  max_energy_per_atom: float | None) -> str | None:
    labels = get_labels(atoms, energy_key)
    forces = labels.get("forces")
    if forces is not None and forces.shape != (len(atoms), 3):
        return f"label 'forces' has shape {forces.shape}, expected ({len(atoms)}, 3)"
    for key, value in labels.items():
        if is_finite_label(value):
            continue
        if key == "forces":
            atom = int(np.flatnonzero(~np.isfinite(value).all(axis=1))[0])
            return f"NaN or inf in label 'forces' (first on atom {atom})"
        return f"NaN or inf in label {key!r}"
    return label_bound_problem(labels, len(atoms), max_force, max_energy_per_atom)


def validate_structure(atoms: Atoms, source: str | None = None, index: int | None = None,
                       min_distance: float = 0.5, energy_key: str | None = None,
                       max_force: float | None = MAX_FORCE,
                       max_energy_per_atom: float | None = MAX_ENERGY_PER_ATOM) -> None:
    """Raise :class:`DataError` for the first problem found in ``atoms``.

    Checks, in order: at least one atom; finite positions; real elements (1 <= Z <= 118, so
    the dummy ``X`` is refused); a finite cell whose periodic lattice vectors are non-zero and
    linearly independent; no two atoms (periodic images included) closer than
    ``min_distance`` (Å); finite labels (energy eV, forces eV/Å of shape ``[N, 3]``, ``e_ads``)
    within physical bounds (see :func:`label_bound_problem`).

    Args:
        atoms: structure to check.
        source, index: where it came from (default: ``info["source"]`` / ``info["index"]``).
        min_distance: smallest allowed interatomic distance (Å).
        energy_key: ``info`` key of the adsorption energy (see :func:`get_labels`).
        max_force: largest allowed force on one atom (eV/Å); ``None``: no bound.
        max_energy_per_atom: largest allowed |E| / N of an energy label (eV/atom);
            ``None``: no bound.
    """
    if len(atoms) == 0:
        raise _error(atoms, "empty structure (0 atoms)", source, index)
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)
    cell = np.asarray(atoms.get_cell().array, dtype=np.float64)
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    for problem in (_check_positions(pos), _check_elements(atoms.numbers),
                    _check_cell(cell, pbc)):
        if problem:
            raise _error(atoms, problem, source, index)
    problem = (_check_overlap(pos, cell, pbc, min_distance)
               or _check_labels(atoms, energy_key, max_force, max_energy_per_atom))
    if problem:
        raise _error(atoms, problem, source, index)


def validate_labels(atoms: Atoms, required: Iterable[str], source: str | None = None,
                    index: int | None = None, energy_key: str | None = None) -> dict:
    """Raise ``DataError("missing label 'energy'")``-style errors; return the labels found."""
    labels = get_labels(atoms, energy_key)
    for key in required:
        if key not in labels:
            raise _error(atoms, f"missing label {key!r}", source, index)
    return labels


def validate_structures(structures: Sequence[Atoms], min_distance: float = 0.5,
                        energy_key: str | None = None, max_force: float | None = MAX_FORCE,
                        max_energy_per_atom: float | None = MAX_ENERGY_PER_ATOM) -> None:
    """:func:`validate_structure` on each structure (stops at the first problem)."""
    for atoms in structures:
        validate_structure(atoms, min_distance=min_distance, energy_key=energy_key,
                           max_force=max_force, max_energy_per_atom=max_energy_per_atom)
