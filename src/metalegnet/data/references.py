"""Per-element linear reference energies.

A total DFT energy is dominated by a sum of per-element constants; fitting them removes that
large offset so a model learns the small remainder:

    E(structure) ≈ Σ_Z n_Z ε_Z          (eV; n_Z = number of atoms of element Z)

``ε`` is a float array of length 119 indexed by atomic number (eV per atom; zero for elements
absent from the fit). Fit it on the *training* structures only (:func:`fit_references` on
``split.select(structures, "train")``) so validation and test data never leak into it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from metalegnet.data.io import write_bytes_atomic
from metalegnet.data.labels import get_labels
from metalegnet.errors import DataError

N_ELEMENTS = 119


def composition_matrix(structures: Sequence[Atoms]) -> np.ndarray:
    """``[S, 119]`` counts of each atomic number in each structure."""
    counts = np.zeros((len(structures), N_ELEMENTS), dtype=np.float64)
    for row, atoms in enumerate(structures):
        np.add.at(counts[row], atoms.numbers, 1.0)
    return counts


def _energies(structures: Sequence[Atoms], label: str) -> np.ndarray:
    out = np.empty(len(structures))
    for k, atoms in enumerate(structures):
        labels = get_labels(atoms)
        if label not in labels:
            info = atoms.info
            raise DataError(f"missing label {label!r} (needed to fit reference energies)",
                            source=info.get("source"), index=info.get("index"),
                            sid=info.get("sid"))
        out[k] = labels[label]
    return out


def fit_references(structures: Sequence[Atoms], energies: Sequence[float] | None = None,
                   ridge: float = 1e-8, label: str = "energy") -> np.ndarray:
    """Least-squares per-element energies ``ε_Z`` (eV/atom), ``[119]``.

    Solves ``min ||A ε - E||² + ridge · ||ε||²`` over the elements present (``A``: the
    composition matrix). The small ridge keeps the solve stable when compositions are
    collinear (e.g. every slab has the same number of metal atoms).

    Args:
        structures: the training structures.
        energies: their energies (eV); default: label ``label`` of each structure.
        ridge: Tikhonov weight, in units of (atoms)².
        label: label key used when ``energies`` is not given (``"energy"``: total energy).
    """
    if len(structures) == 0:
        raise DataError("no structures to fit reference energies on")
    e = (np.asarray(energies, dtype=np.float64) if energies is not None
         else _energies(structures, label))
    counts = composition_matrix(structures)
    seen = np.flatnonzero(counts.sum(axis=0) > 0)
    a = counts[:, seen]
    a_aug = np.vstack([a, np.sqrt(ridge) * np.eye(len(seen))])
    e_aug = np.concatenate([e, np.zeros(len(seen))])
    sol, *_ = np.linalg.lstsq(a_aug, e_aug, rcond=None)
    refs = np.zeros(N_ELEMENTS)
    refs[seen] = sol
    return refs


def reference_energy(structures: Sequence[Atoms] | Atoms, refs: np.ndarray) -> np.ndarray:
    """``Σ_Z n_Z ε_Z`` (eV) of each structure, ``[S]`` (``[1]`` for a single ``Atoms``)."""
    if isinstance(structures, Atoms):
        structures = [structures]
    return composition_matrix(structures) @ np.asarray(refs, dtype=np.float64)


def subtract_references(structures: Sequence[Atoms], energies: Sequence[float],
                        refs: np.ndarray) -> np.ndarray:
    """``E - Σ_Z n_Z ε_Z`` (eV) per structure: the residual a model is trained on."""
    return np.asarray(energies, dtype=np.float64) - reference_energy(structures, refs)


def save_references(refs: np.ndarray, path: str | os.PathLike) -> Path:
    """Write ``{"unit": "eV/atom", "energies": {"Cu": ..., ...}}`` (non-zero entries) as JSON,
    atomically."""
    refs = np.asarray(refs, dtype=np.float64)
    data = {"unit": "eV/atom",
            "energies": {chemical_symbols[z]: float(refs[z]) for z in np.flatnonzero(refs)}}
    return write_bytes_atomic(path, json.dumps(data, indent=1).encode())


def references_from_dict(data: dict) -> np.ndarray:
    """Inverse of the JSON written by :func:`save_references` (also used by checkpoints)."""
    refs = np.zeros(N_ELEMENTS)
    for symbol, value in data["energies"].items():
        if symbol not in chemical_symbols:
            raise DataError(f"unknown element {symbol!r} in reference energies")
        refs[chemical_symbols.index(symbol)] = float(value)
    return refs


def load_references(path: str | os.PathLike) -> np.ndarray:
    """Read reference energies written by :func:`save_references`, ``[119]`` eV/atom."""
    try:
        return references_from_dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise DataError("no such reference-energy file", source=str(path)) from None
    except (KeyError, ValueError, AttributeError) as exc:
        raise DataError(f"not a reference-energy file: {exc}", source=str(path)) from None
