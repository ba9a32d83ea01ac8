"""Training targets from ASE structures, per task.

Label keys (graph-level values are scalars, ``forces`` is ``[N, 3]``):

==================  =====================================================================
``energy``          total DFT energy of the structure (eV)
``forces``          forces on the atoms (eV/Å)
``e_ads``           adsorption energy of the structure (eV; reference as in its data set)
``relaxed_energy``  IS2RE target: total energy of the relaxed structure (eV)
``relaxed_e_ads``   IS2RE target: adsorption energy of the relaxed structure (eV)
==================  =====================================================================

Tasks: ``s2e`` (structure -> energy), ``s2f`` (-> forces), ``s2ef`` (-> both) and ``is2re``
(initial structure -> relaxed energy); the energy target is ``"total"`` or ``"adsorption"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from ase import Atoms

from metalegnet.errors import ConfigError, DataError

#: ``info`` keys tried, in order, for the adsorption energy when no key is given.
E_ADS_KEYS = ("e_ads", "eads_real", "ads_energy")
#: ``info`` keys tried, in order, for the total energy when no calculator holds it.
ENERGY_KEYS = ("energy", "total_energy")
TASKS = ("s2e", "s2f", "s2ef", "is2re")
ENERGY_TARGETS = ("total", "adsorption")


class Sample(NamedTuple):
    """One training example: the structure and its label dict (see the module docstring)."""

    atoms: Atoms
    labels: dict


def _where(atoms: Atoms) -> dict:
    info = atoms.info
    return {"source": info.get("source"), "index": info.get("index"), "sid": info.get("sid")}


def _number(atoms: Atoms, key: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"label {key!r} is not a number: {value!r}", **_where(atoms)) from None


def get_labels(atoms: Atoms, energy_key: str | None = None) -> dict:
    """The labels ``atoms`` carries; only keys that exist are returned.

    Args:
        atoms: structure with a ``SinglePointCalculator`` and/or labels in ``info``/``arrays``.
        energy_key: ``info`` key of the adsorption energy (e.g. ``"eads_real"``); by default the
            first of :data:`E_ADS_KEYS` present.

    Returns:
        ``energy`` (total, eV: calculator, else ``info["energy"]`` / ``info["total_energy"]``),
        ``forces`` (``[N, 3]`` eV/Å: calculator, else ``arrays["forces"]``), ``e_ads`` (eV) and
        ``relaxed_energy`` / ``relaxed_e_ads`` (eV) where stored in ``info``.
    """
    out: dict = {}
    results = getattr(atoms.calc, "results", None) or {}
    info = atoms.info
    if results.get("energy") is not None:
        out["energy"] = _number(atoms, "energy", results["energy"])
    else:
        for key in ENERGY_KEYS:
            if info.get(key) is not None:
                out["energy"] = _number(atoms, key, info[key])
                break
    forces = results.get("forces")
    if forces is None:
        forces = atoms.arrays.get("forces")
    if forces is not None:
        out["forces"] = np.asarray(forces, dtype=np.float64)
    for key in (energy_key,) if energy_key else E_ADS_KEYS:
        if info.get(key) is not None:
            out["e_ads"] = _number(atoms, key, info[key])
            break
    for key in ("relaxed_energy", "relaxed_e_ads"):
        if info.get(key) is not None:
            out[key] = _number(atoms, key, info[key])
    return out


def target_keys(task: str, energy_target: str = "total") -> tuple[str, ...]:
    """Label keys a task trains on, e.g. ``("e_ads", "forces")`` for s2ef/adsorption."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if energy_target not in ENERGY_TARGETS:
        raise ConfigError(f"unknown energy target {energy_target!r}; "
                          f"choose one of {', '.join(ENERGY_TARGETS)}")
    energy = "energy" if energy_target == "total" else "e_ads"
    return {"s2e": (energy,), "s2f": ("forces",), "s2ef": (energy, "forces"),
            "is2re": ("relaxed_" + energy,)}[task]


def _require(atoms: Atoms, labels: dict, key: str, what: str = "") -> None:
    if key not in labels:
        raise DataError(f"missing label {key!r}{what}", **_where(atoms))


def _fid_order(frames: list[Atoms]) -> list[Atoms]:
    if all(f.info.get("fid") is not None for f in frames):
        return sorted(frames, key=lambda f: int(f.info["fid"]))
    return frames


def pair_is2re(structures: Sequence[Atoms], energy_key: str | None = None
               ) -> list[tuple[Atoms, float, Atoms]]:
    """Pair each trajectory's initial structure with its relaxed (last-frame) total energy.

    Frames are grouped by ``info["sid"]`` (groups in order of first appearance) and ordered by
    ``fid`` when every frame has one, else by their order in ``structures``.

    Returns:
        ``(initial_atoms, relaxed_energy_eV, relaxed_atoms)`` per trajectory.

    Raises:
        DataError: a trajectory has a single frame (no relaxation to learn), lacks its last
            frame (``fid != nframes - 1`` where ``nframes`` is known) or its last frame has no
            total energy.
    """
    groups: dict[str, list[Atoms]] = {}
    for atoms in structures:
        if "sid" not in atoms.info:
            raise DataError("missing 'sid' (needed to group IS2RE trajectories)",
                            **_where(atoms))
        groups.setdefault(str(atoms.info["sid"]), []).append(atoms)
    pairs = []
    for frames in groups.values():
        frames = _fid_order(frames)
        first, last = frames[0], frames[-1]
        if len(frames) < 2:
            raise DataError("IS2RE needs a relaxation trajectory, but this sid has 1 frame",
                            **_where(first))
        nframes, fid = last.info.get("nframes"), last.info.get("fid")
        if nframes is not None and fid is not None and int(fid) != int(nframes) - 1:
            raise DataError(f"incomplete trajectory: last frame has fid {fid} but the "
                            f"trajectory has {nframes} frames (read all frames for IS2RE)",
                            **_where(last))
        labels = get_labels(last, energy_key)
        _require(last, labels, "energy", " on the last (relaxed) frame")
        pairs.append((first, labels["energy"], last))
    return pairs


def _is2re_samples(structures: Sequence[Atoms], key: str, energy_key: str | None
                   ) -> list[Sample]:
    if all(key in get_labels(a, energy_key) for a in structures):  # already paired
        return [Sample(a, {key: get_labels(a, energy_key)[key]}) for a in structures]
    samples = []
    for first, energy, last in pair_is2re(structures, energy_key):
        if key == "relaxed_energy":
            samples.append(Sample(first, {key: energy}))
            continue
        labels = get_labels(last, energy_key)
        _require(last, labels, "e_ads", " on the last (relaxed) frame")
        samples.append(Sample(first, {key: labels["e_ads"]}))
    return samples


def labels_for_structure(atoms: Atoms, task: str, energy_target: str = "total",
                         energy_key: str | None = None) -> dict:
    """The label dict of one structure for a per-frame task (or an already-paired IS2RE frame
    holding ``relaxed_energy`` / ``relaxed_e_ads`` in ``info``)."""
    keys = target_keys(task, energy_target)
    labels = get_labels(atoms, energy_key)
    out = {}
    for key in keys:
        _require(atoms, labels, key)
        out[key] = labels[key]
    return out


def labels_for_task(atoms_list: Sequence[Atoms], task: str, energy_target: str = "total",
                    energy_key: str | None = None) -> list[Sample]:
    """Turn structures into ``(atoms, labels)`` samples for ``task``.

    For ``s2e``/``s2f``/``s2ef`` every structure is one sample. For ``is2re`` the result holds
    one sample per trajectory (``sid``): its initial frame with ``relaxed_energy`` (total, eV)
    or ``relaxed_e_ads`` (adsorption energy of the last frame, eV); frames that already carry
    that key in ``info`` are used as they are.

    Raises:
        ConfigError: unknown task or energy target.
        DataError: a structure lacks a label the task needs (message names it).
    """
    keys = target_keys(task, energy_target)
    if task == "is2re":
        return _is2re_samples(atoms_list, keys[0], energy_key)
    return [Sample(a, labels_for_structure(a, task, energy_target, energy_key))
            for a in atoms_list]


def is_finite_label(value) -> bool:
    """True when every number in ``value`` is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
