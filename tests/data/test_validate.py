"""Each bad input gives its own one-line DataError naming file, index, sid and problem.

Every bad structure is written to an extxyz file (after one good structure) and read back
through the public reader, as a user's file would be.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.data import (
    read_structures,
    validate_labels,
    validate_structure,
    write_extxyz_atomic,
)
from metalegnet.errors import DataError


def good() -> Atoms:
    atoms = fcc111("Cu", (2, 2, 2), vacuum=5.0)
    atoms.info["sid"] = "slab"
    return atoms


def problem_of(tmp_path, bad: Atoms, name: str = "bad.extxyz") -> str:
    """Write [good, bad], read back, validate both; return the error message."""
    path = write_extxyz_atomic(tmp_path / name, [good(), bad])
    first, second = read_structures(path)
    validate_structure(first)  # the good one passes
    with pytest.raises(DataError) as err:
        validate_structure(second)
    return str(err.value)


def test_good_structures_pass(tmp_path):
    path = write_extxyz_atomic(tmp_path / "ok.extxyz", [good(), good()])
    for atoms in read_structures(path):
        validate_structure(atoms)


def test_empty_structure(tmp_path):
    msg = problem_of(tmp_path, Atoms(cell=[3, 3, 3], pbc=True))
    assert msg == f"{tmp_path / 'bad.extxyz'} [index 1, sid=bad_1]: empty structure (0 atoms)"


def test_nan_position(tmp_path):
    bad = good()
    bad.positions[5, 2] = np.nan
    assert problem_of(tmp_path, bad) == (
        f"{tmp_path / 'bad.extxyz'} [index 1, sid=slab]: "
        "NaN or inf in positions of 1 atom(s) (first: atom 5)")


def test_unknown_element(tmp_path):
    bad = good()
    bad.numbers[2] = 0  # written as 'X'
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=slab]: unknown element ('X', Z=0) on atom 2")


def test_zero_cell_with_pbc(tmp_path):
    bad = Atoms("H2", positions=[[0, 0, 0], [1, 0, 0]], pbc=True)
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=bad_1]: zero cell vector on periodic axis 0 (pbc=TTT)")


def test_zero_cell_vector_on_one_periodic_axis_of_a_slab(tmp_path):
    bad = good()
    cell = bad.cell.array.copy()
    cell[1] = 0.0
    bad.set_cell(cell)
    assert problem_of(tmp_path, bad).endswith(
        "zero cell vector on periodic axis 1 (pbc=TTF)")


def test_degenerate_cell(tmp_path):
    bad = good()
    cell = bad.cell.array.copy()
    cell[1] = 2 * cell[0]
    bad.set_cell(cell)
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=slab]: degenerate cell: the periodic lattice vectors are "
        "linearly dependent")


def test_overlapping_atoms(tmp_path):
    bad = good()
    bad.positions[3] = bad.positions[0] + [0.1, 0.0, 0.0]
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=slab]: atoms 0 and 3 overlap: 0.100 Å apart (< 0.5 Å)")


def test_overlap_through_a_periodic_image(tmp_path):
    bad = Atoms("H2", positions=[[0, 0, 0], [2.9, 0, 0]], cell=[3, 10, 10], pbc=True)
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=bad_1]: atoms 0 and 1 overlap (periodic image): 0.100 Å apart "
        "(< 0.5 Å)")
    validate_structure(Atoms("H2", positions=[[0, 0, 0], [2.9, 0, 0]], cell=[3, 10, 10]))


def test_atom_overlapping_its_own_image(tmp_path):
    bad = Atoms("H", positions=[[0, 0, 0]], cell=[0.3, 10, 10], pbc=True)
    assert problem_of(tmp_path, bad).endswith(
        "atom 0 overlaps its own periodic image: 0.300 Å apart (< 0.5 Å; cell too small)")


def test_min_distance_is_configurable():
    atoms = Atoms("H2", positions=[[0, 0, 0], [0.74, 0, 0]])
    validate_structure(atoms)  # H2 bond 0.74 Å > 0.5 Å
    with pytest.raises(DataError, match=r"atoms 0 and 1 overlap: 0\.740 Å apart \(< 1\.0 Å\)"):
        validate_structure(atoms, min_distance=1.0)


def _with_labels(energy=-1.0, forces=None) -> Atoms:
    atoms = good()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def test_nan_energy(tmp_path):
    assert problem_of(tmp_path, _with_labels(energy=float("nan"))).endswith(
        "[index 1, sid=slab]: NaN or inf in label 'energy'")


def test_inf_forces(tmp_path):
    forces = np.zeros((8, 3))
    forces[6, 1] = np.inf
    assert problem_of(tmp_path, _with_labels(forces=forces)).endswith(
        "[index 1, sid=slab]: NaN or inf in label 'forces' (first on atom 6)")


def test_nan_adsorption_energy(tmp_path):
    bad = good()
    bad.info["e_ads"] = float("nan")
    assert problem_of(tmp_path, bad).endswith("[index 1, sid=slab]: NaN or inf in label 'e_ads'")


def test_adsorption_energy_that_is_not_a_number(tmp_path):
    bad = good()
    bad.info["e_ads"] = "unconverged"
    assert problem_of(tmp_path, bad).endswith(
        "[index 1, sid=slab]: label 'e_ads' is not a number: 'unconverged'")


def test_missing_label(tmp_path):
    path = write_extxyz_atomic(tmp_path / "nolabel.extxyz", [_with_labels(), good()])
    labelled, bare = read_structures(path)
    assert validate_labels(labelled, ["energy"])["energy"] == pytest.approx(-1.0)
    with pytest.raises(DataError) as err:
        validate_labels(bare, ["energy"])
    assert str(err.value) == f"{path} [index 1, sid=slab]: missing label 'energy'"


def test_embedded_sets_are_valid():
    from metalegnet.data import load

    for name in ("oc22-mini", "mamun-subset", "pdn-ceria"):
        for atoms in load(name):
            validate_structure(atoms)


def _exploded(energy: float = -1.0, force: float = 0.1) -> Atoms:
    atoms = good()
    forces = np.full((len(atoms), 3), 0.1)
    forces[3] = [force, 0.0, 0.0]
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def test_exploded_force_is_bad_input(tmp_path):
    assert problem_of(tmp_path, _exploded(-2e7, 3e8)).endswith(
        "[index 1, sid=slab]: label 'forces' is 3e+08 eV/Å on atom 3, above the physical "
        "bound max_force=10000 eV/Å (an exploded calculation?)")


def test_exploded_energy_is_bad_input(tmp_path):
    assert problem_of(tmp_path, _exploded(-2e7)).endswith(
        "[index 1, sid=slab]: label 'energy' is -2e+07 eV (2.5e+06 eV/atom), above the "
        "physical bound max_energy_per_atom=100000 eV/atom (an exploded calculation?)")


def test_exploded_adsorption_energy_is_bad_input(tmp_path):
    bad = good()
    bad.info["e_ads"] = 1e9
    assert "label 'e_ads' is 1e+09 eV" in problem_of(tmp_path, bad)


def test_label_bounds_are_configurable():
    atoms = _exploded(-2e7, 3e8)
    validate_structure(atoms, max_force=None, max_energy_per_atom=None)
    validate_structure(atoms, max_force=1e9, max_energy_per_atom=1e7)
    with pytest.raises(DataError, match="eV/atom"):
        validate_structure(atoms, max_force=None)


def test_embedded_labels_are_within_the_physical_bounds():
    from metalegnet.data import available, get_labels, load
    from metalegnet.data.validate import label_bound_problem

    for name in available():
        for atoms in load(name):
            assert label_bound_problem(get_labels(atoms), len(atoms)) is None, name
