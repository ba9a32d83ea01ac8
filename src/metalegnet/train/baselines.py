"""Trivial reference predictors, so a table shows learning rather than memorised means.

Fitted on the training samples only, scored on others (energies eV, forces eV/Å):

* ``train_mean``: E_pred = mean of the training targets; F_pred = mean training force
  component (about 0).
* ``element_linear``: E_pred = mu * N + sum_Z n_Z eps_Z, the per-element least-squares fit
  of the training targets on composition, elements unseen in training counting as the mean
  atom mu (for total energies this is exactly the reference part a LegNet adds to its
  learnt residual). No force counterpart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metalegnet.data.labels import Sample
from metalegnet.data.references import reference_energy
from metalegnet.train.config import TrainConfig
from metalegnet.train.data import energy_array, fit_element_energies, fixed_mask


def _forces(samples: Sequence[Sample], force_atoms: str) -> np.ndarray:
    parts = []
    for s in samples:
        f = np.asarray(s.labels["forces"], dtype=np.float64)
        if force_atoms == "free":
            f = f[~fixed_mask(s.atoms)]
        parts.append(f.reshape(-1, 3))
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def trivial_baselines(train: Sequence[Sample], test: Sequence[Sample], config: TrainConfig
                      ) -> dict[str, dict[str, float]]:
    """``{"train_mean": {...}, "element_linear": {...}}`` with ``energy_mae`` (eV) and, for
    force tasks, ``force_mae`` (eV/Å) of each trivial predictor on ``test``."""
    out: dict[str, dict[str, float]] = {"train_mean": {}, "element_linear": {}}
    if not train or not test:
        return out
    label = config.energy_label
    if label is not None:
        e_train, e_test = energy_array(train, label), energy_array(test, label)
        out["train_mean"]["energy_mae"] = float(np.mean(np.abs(e_test - e_train.mean())))
        mu, refs = fit_element_energies([s.atoms for s in train], e_train)
        test_atoms = [s.atoms for s in test]
        pred = mu * np.asarray([len(a) for a in test_atoms]) + reference_energy(test_atoms,
                                                                                refs)
        out["element_linear"]["energy_mae"] = float(np.mean(np.abs(e_test - pred)))
    if config.uses_forces:
        f_train, f_test = _forces(train, config.force_atoms), _forces(test, config.force_atoms)
        mean = f_train.mean(axis=0) if f_train.size else np.zeros(3)
        if f_test.size:
            out["train_mean"]["force_mae"] = float(np.mean(np.abs(f_test - mean)))
    return out
