"""Per-element linear reference energies."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.data import (
    fit_references,
    load_references,
    reference_energy,
    save_references,
    subtract_references,
)
from metalegnet.errors import DataError

TRUE = {1: -3.4, 6: -9.2, 8: -7.1, 29: -3.7}  # eV/atom


def synthetic(n: int, seed: int, noise: float = 0.0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        counts = rng.integers(0, 6, size=len(TRUE))
        counts[3] += 1
        numbers = np.repeat(list(TRUE), counts)
        atoms = Atoms(numbers=numbers, positions=rng.random((len(numbers), 3)) * 10)
        energy = sum(TRUE[z] for z in numbers) + noise * rng.standard_normal()
        atoms.calc = SinglePointCalculator(atoms, energy=energy)
        out.append(atoms)
    return out


def test_recovers_known_per_element_energies():
    refs = fit_references(synthetic(40, seed=0))
    assert refs.shape == (119,)
    for z, value in TRUE.items():
        assert refs[z] == pytest.approx(value, abs=1e-5)
    assert np.count_nonzero(refs) == len(TRUE)  # unseen elements stay zero


def test_noisy_fit_is_close_and_residuals_are_small():
    train = synthetic(200, seed=1, noise=0.05)
    refs = fit_references(train)
    for z, value in TRUE.items():
        assert refs[z] == pytest.approx(value, abs=0.02)
    test = synthetic(20, seed=2)
    energies = [a.get_potential_energy() for a in test]
    residual = subtract_references(test, energies, refs)
    assert np.abs(residual).max() < 0.2
    assert np.abs(residual).max() < 0.01 * np.abs(energies).min()


def test_apply_and_json_round_trip(tmp_path):
    refs = fit_references(synthetic(40, seed=0))
    water = Atoms("H2O")
    assert reference_energy(water, refs)[0] == pytest.approx(2 * TRUE[1] + TRUE[8], abs=1e-5)
    back = load_references(save_references(refs, tmp_path / "refs.json"))
    np.testing.assert_array_equal(back, refs)


def test_fit_needs_energies():
    with pytest.raises(DataError, match="missing label 'energy'"):
        fit_references([Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]])])
