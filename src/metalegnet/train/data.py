"""From a data source to training samples: read, validate, label, split, normalise.

Normalisation (fitted on the training split only, stored in the model's buffers):

    total energy:       E = sigma * (sum_i c_i + b_G) + mu_atom * N + sum_i eps_{Z_i}
                        mu_atom = sum_G E_G / sum_G N_G (mean energy per atom),
                        eps = per-element least-squares fit of E - mu_atom * N on
                        composition (:func:`fit_element_energies`); an element absent
                        from the training split has eps = 0, i.e. it counts as an average
                        atom instead of an atom of zero energy
    adsorption energy:  E = sigma * (sum_i c_i + b_G) + mu_atom * N + sum_i eps_{Z_i} + mu_graph
                        with mu_atom, eps from the same composition fit, and mu_graph the
                        mean residual, or the mean alone (E = sigma * (...) + mean_G E_G),
                        whichever predicts the validation split better (composition when
                        there is no validation split). *Choice*: the network learns what
                        the better trivial predictor does not explain. With the mean, the
                        per-element fit alone beat every network on 3 of 13 quick-suite
                        rows; with composition always, bench-0d S2E (clusters of many sizes,
                        where the fit extrapolates badly) got twice as bad.

sigma_E is the std of the residual the network has to learn (eV); sigma_F the RMS force
component over scored atoms (eV/Å). The model's scale sigma is sigma_E for s2e/is2re and
sigma_F for s2f/s2ef (forces = sigma * W_F v must come out in eV/Å).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from metalegnet.data.dataset import GraphDataset
from metalegnet.data.io import read_structures
from metalegnet.data.labels import Sample, labels_for_structure, labels_for_task
from metalegnet.data.references import fit_references, reference_energy
from metalegnet.data.splits import (
    Split,
    apply_split,
    data_fingerprint,
    fingerprint_mismatch,
    load_split,
    save_split,
    split_by_group,
)
from metalegnet.data.validate import validate_structures
from metalegnet.errors import DataError
from metalegnet.train.config import TrainConfig
from metalegnet.train.losses import LossScales


@dataclass
class Normalization:
    """Constants fitted on the training split (see the module docstring)."""

    scale: float = 1.0
    shift_atom: float = 0.0
    shift_graph: float = 0.0
    references: np.ndarray | None = None
    elements: tuple[int, ...] | None = None  # atomic numbers of the training split
    sigma_energy: float = 1.0
    sigma_forces: float = 1.0
    energy_reference: str = "composition"  # or "mean" (adsorption energies only)

    @property
    def loss_scales(self) -> LossScales:
        return LossScales(energy=self.sigma_energy, forces=self.sigma_forces)

    def apply(self, model) -> None:
        """Set ``model.normalization`` (the one module that turns model units into eV)."""
        model.normalization.set(self.scale, self.shift_atom, self.shift_graph,
                                self.references, self.elements)

    def loss_dict(self) -> dict:
        """What a checkpoint's metadata keeps (the model constants live in its state dict)."""
        return {"sigma_energy": self.sigma_energy, "sigma_forces": self.sigma_forces,
                "energy_reference": self.energy_reference}

    def as_dict(self) -> dict:
        return {"scale": self.scale, "shift_atom": self.shift_atom,
                "shift_graph": self.shift_graph, "sigma_energy": self.sigma_energy,
                "sigma_forces": self.sigma_forces, "energy_reference": self.energy_reference,
                "references": None if self.references is None else
                [float(x) for x in self.references]}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        refs = d.get("references")
        return cls(scale=d["scale"], shift_atom=d["shift_atom"], shift_graph=d["shift_graph"],
                   references=None if refs is None else np.asarray(refs, dtype=np.float64),
                   sigma_energy=d["sigma_energy"], sigma_forces=d["sigma_forces"],
                   energy_reference=d.get("energy_reference", "composition"))


@dataclass
class PreparedData:
    """Labelled samples, the split over them and the training-set normalisation."""

    samples: list[Sample]
    split: Split
    normalization: Normalization
    num_dropped: int = 0
    warnings: list[str] = field(default_factory=list)  # one line each, for the run's log

    def part(self, name: str) -> list[Sample]:
        return self.split.select(self.samples, name)

    def dataset(self, name: str, cutoff: float) -> GraphDataset:
        return GraphDataset(self.samples, cutoff, indices=self.split.indices(name))


def stride_frames(structures: Sequence[Atoms], stride: int) -> list[Atoms]:
    """Keep every ``stride``-th frame of each ``sid`` (in the order they appear)."""
    if stride <= 1:
        return list(structures)
    seen: dict[str, int] = {}
    out = []
    for atoms in structures:
        sid = str(atoms.info.get("sid"))
        k = seen.get(sid, 0)
        seen[sid] = k + 1
        if k % stride == 0:
            out.append(atoms)
    return out


def fill_formula(structures: Sequence[Atoms]) -> None:
    """Set ``info["formula"]`` to the chemical formula (e.g. ``C3H4Cu48O2``) if absent, so
    ``group_by: [formula]`` groups all configurations of one chemical system."""
    for atoms in structures:
        atoms.info.setdefault("formula", atoms.get_chemical_formula())


def make_samples(structures: Sequence[Atoms], config: TrainConfig) -> tuple[list[Sample], int]:
    """Label structures for the task; with ``drop_unlabelled`` skip those that lack labels.

    Returns ``(samples, number_dropped)`` (for IS2RE the dropped unit is a trajectory).
    """
    task, target, key = config.task, config.energy_target, config.energy_key
    if not config.drop_unlabelled:
        return labels_for_task(structures, task, target, key), 0
    if task != "is2re":
        samples = []
        for atoms in structures:
            try:
                samples.append(Sample(atoms, labels_for_structure(atoms, task, target, key)))
            except DataError:
                continue
        return samples, len(structures) - len(samples)
    groups: dict[str, list[Atoms]] = {}
    for atoms in structures:
        groups.setdefault(str(atoms.info.get("sid")), []).append(atoms)
    samples, dropped = [], 0
    for frames in groups.values():
        try:
            samples.extend(labels_for_task(frames, task, target, key))
        except DataError:
            dropped += 1
    return samples, dropped


def energy_array(samples: Sequence[Sample], label: str) -> np.ndarray:
    return np.asarray([float(s.labels[label]) for s in samples], dtype=np.float64)


def _std(x: np.ndarray) -> float:
    s = float(np.std(x)) if x.size else 0.0
    return s if s > 1e-6 else 1.0


def fit_element_energies(atoms: Sequence[Atoms], energies: np.ndarray
                         ) -> tuple[float, np.ndarray]:
    """``(mu, eps)`` with E ~ mu * N + sum_Z n_Z eps_Z (eV): mu the mean energy per atom,
    eps ``[119]`` the per-element least-squares deviations (0 for absent elements)."""
    natoms = np.asarray([len(a) for a in atoms], dtype=np.float64)
    mu = float(np.sum(energies) / np.sum(natoms))
    return mu, fit_references(atoms, energies=np.asarray(energies) - mu * natoms)


def fit_normalization(train: Sequence[Sample], config: TrainConfig,
                      val: Sequence[Sample] = ()) -> Normalization:
    """Fit references, shifts and scales on the training samples (module docstring);
    ``val`` only chooses between the two references of adsorption energies."""
    if not train:
        raise DataError("the training split is empty")
    norm = Normalization()
    norm.elements = tuple(sorted({int(z) for s in train for z in s.atoms.numbers}))
    label = config.energy_label
    if label is not None:
        atoms = [s.atoms for s in train]
        e = energy_array(train, label)
        natoms = np.asarray([len(a) for a in atoms], dtype=np.float64)
        if config.energy_target == "total":
            mu, norm.references = fit_element_energies(atoms, e)
            resid = e - mu * natoms - reference_energy(atoms, norm.references)
            norm.shift_atom = mu + float(np.mean(resid / natoms))
            norm.sigma_energy = _std(e - norm.shift_atom * natoms
                                     - reference_energy(atoms, norm.references))
        else:
            mu, refs = fit_element_energies(atoms, e)
            resid = e - mu * natoms - reference_energy(atoms, refs)
            if _mean_predicts_better(val, label, float(np.mean(e)), mu, refs,
                                     float(np.mean(resid))):
                norm.energy_reference = "mean"
                norm.shift_graph = float(np.mean(e))
                norm.sigma_energy = _std(e - norm.shift_graph)
            else:
                norm.shift_atom, norm.references = mu, refs
                norm.shift_graph = float(np.mean(resid))
                norm.sigma_energy = _std(resid - norm.shift_graph)
    if config.uses_forces:
        comps = []
        for s in train:
            f = np.asarray(s.labels["forces"], dtype=np.float64)
            if config.force_atoms == "free":
                f = f[~fixed_mask(s.atoms)]
            comps.append(f.ravel())
        flat = np.concatenate(comps) if comps else np.zeros(0)
        rms = float(np.sqrt(np.mean(flat * flat))) if flat.size else 0.0
        norm.sigma_forces = rms if rms > 1e-6 else 1.0
    norm.scale = norm.sigma_forces if config.uses_forces else norm.sigma_energy
    return norm


def _mean_predicts_better(val: Sequence[Sample], label: str, mean: float, mu: float,
                          refs: np.ndarray, shift: float) -> bool:
    """Whether the training mean has a lower validation MAE than the composition fit."""
    val = [s for s in val if label in s.labels]
    if not val:
        return False
    e = energy_array(val, label)
    atoms = [s.atoms for s in val]
    natoms = np.asarray([len(a) for a in atoms], dtype=np.float64)
    fit = mu * natoms + reference_energy(atoms, refs) + shift
    return float(np.mean(np.abs(e - mean))) < float(np.mean(np.abs(e - fit)))


def fixed_mask(atoms: Atoms) -> np.ndarray:
    from ase.constraints import FixAtoms

    mask = np.zeros(len(atoms), dtype=bool)
    for c in atoms.constraints:
        if isinstance(c, FixAtoms):
            mask[c.get_indices()] = True
    return mask


def make_split(samples: Sequence[Sample], config: TrainConfig,
               path: str | os.PathLike | None = None, fingerprint: dict | None = None) -> Split:
    """Re-use ``path`` (a run's ``splits.json``, which must have been made for the same data:
    ``fingerprint``, see :func:`data_fingerprint`) or ``config.splits_file``, else split by
    ``config.group_by`` with ``split_seed`` (default ``seed``); a new split is saved to
    ``path`` with ``fingerprint``."""
    atoms = [s.atoms for s in samples]
    if path is not None and Path(path).exists():
        split = load_split(path)
        why = fingerprint_mismatch(split, fingerprint) if fingerprint else None
        if why:
            raise DataError(f"the data changed since {path} was made ({why}); train into "
                            "a new --out folder", source=config.data)
        return apply_split(split, atoms)
    if config.splits_file is not None:
        split = apply_split(load_split(config.splits_file), atoms)
    else:
        seed = config.seed if config.split_seed is None else config.split_seed
        split = split_by_group(atoms, config.group_by, config.split_fractions, seed,
                               config.test_where, config.split_seen_elements)
    split.fingerprint = fingerprint
    if path is not None:
        save_split(split, path)
    return split


def check_adsorbate_tags(samples: Sequence[Sample], config: TrainConfig) -> str | None:
    """For an adsorption-energy target: refuse a mix of structures with and without tag-2
    (adsorbate) atoms; for data without any, return a warning line (or refuse with
    ``require_adsorbate_tags``). ``None`` when every structure has an adsorbate."""
    if config.energy_target != "adsorption" or not samples:
        return None
    untagged = [s.atoms for s in samples if not (s.atoms.get_tags() == 2).any()]
    if not untagged:
        return None
    n, tagged = len(samples), len(samples) - len(untagged)
    if tagged:
        a = untagged[0]
        raise DataError(f"energy_target=adsorption, but this structure has no adsorbate "
                        f"atoms (tag 2) while {tagged} of {n} structures have: tag its "
                        "adsorbate atoms 2 or leave it out", source=a.info.get("source"),
                        index=a.info.get("index"), sid=a.info.get("sid"))
    what = (f"energy_target=adsorption, but none of the {n} structures tags its adsorbate "
            "atoms (tag 2)")
    if config.require_adsorbate_tags:
        raise DataError(f"{what} (require_adsorbate_tags is set)", source=config.data)
    return (f"{what}: the model cannot tell adsorbate from surface atoms (set "
            "require_adsorbate_tags: true to make this an error)")


def labelled_samples(structures: Sequence[Atoms], config: TrainConfig
                     ) -> tuple[list[Sample], int]:
    """Validate ``structures`` (bad input: one-line :class:`DataError`) and label them for
    ``config.task``; (samples, number dropped for a missing label). No sample at all is an
    error."""
    validate_structures(structures, energy_key=config.energy_key, max_force=config.max_force,
                        max_energy_per_atom=config.max_energy_per_atom)
    samples, dropped = make_samples(structures, config)
    if not samples:
        raise DataError(f"no structure has the labels task {config.task!r} needs",
                        source=config.data)
    return samples, dropped


def prepare_data(config: TrainConfig, structures: Sequence[Atoms] | None = None,
                 splits_path: str | os.PathLike | None = None) -> PreparedData:
    """Read ``config.data`` (unless ``structures`` are given), validate, label, split and fit
    the normalisation on the training part."""
    if structures is None:
        structures = read_structures(config.data)
    structures = list(structures)[::config.structure_stride]
    fingerprint = data_fingerprint(structures)  # of the data as read, before frame strides
    if "formula" in config.group_by:
        fill_formula(structures)
    if config.task != "is2re":
        structures = stride_frames(structures, config.frame_stride)
    samples, dropped = labelled_samples(structures, config)
    warning = check_adsorbate_tags(samples, config)
    split = make_split(samples, config, splits_path, fingerprint)
    norm = fit_normalization(split.select(samples, "train"), config,
                             split.select(samples, "val"))
    warnings = [warning] if warning else []
    if config.pose_variants:
        n_train = len(split.indices("train"))
        samples, split = add_pose_variants(samples, split, config.pose_variants, config.seed)
        made = len(split.indices("train")) - n_train
        if made < config.pose_variants * n_train:
            warnings.append(f"pose_variants={config.pose_variants}: {made} variants of "
                            f"{n_train} training structures (structures without adsorbate "
                            "atoms tagged 2 get none, and a variant that clashes is dropped)")
    return PreparedData(samples=samples, split=split, normalization=norm, num_dropped=dropped,
                        warnings=warnings)


def add_pose_variants(samples: list[Sample], split: Split, copies: int, seed: int
                      ) -> tuple[list[Sample], Split]:
    """``samples`` followed by ``copies`` placed-pose variants of each training sample
    (:func:`metalegnet.seam.augment.augment_poses`, which needs adsorbate tags 2), each
    with its source's labels; the split with the variants added to its training indices
    (``splits.json`` keeps the split of the structures alone)."""
    from metalegnet.seam.augment import PoseAugmentConfig, augment_poses

    train = split.indices("train")
    sources = []
    for i in train:
        atoms = samples[i].atoms.copy()
        atoms.info["_pose_source"] = i
        sources.append(atoms)
    variants = augment_poses(sources, PoseAugmentConfig(copies=copies, seed=seed))[len(sources):]
    extra = []
    for v in variants:
        i = v.info.pop("_pose_source")
        extra.append(Sample(v, dict(samples[i].labels)))
    start = len(samples)
    new_split = dataclasses.replace(split, train_idx=list(train) + list(
        range(start, start + len(extra))))
    return list(samples) + extra, new_split
