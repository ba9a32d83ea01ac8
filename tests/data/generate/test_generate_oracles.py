"""Oracles, relaxation, gas references and the Pt(111) O site-preference sanity check."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc111
from ase.calculators.singlepoint import SinglePointCalculator

from metalegnet.data.generate.builders import finalize, hold_bottom
from metalegnet.data.generate.oracles import OracleError, load_oracle
from metalegnet.data.generate.references import (
    REFERENCE_MOLECULES,
    compute_references,
    element_references,
)
from metalegnet.errors import ConfigError
from metalegnet.surface.relax import RelaxConfig, relax


@pytest.fixture(scope="module")
def emt():
    return load_oracle("emt")


@pytest.fixture(scope="module")
def emt_refs(emt):
    return compute_references(emt)


def _pt111(site=None, element="O"):
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=8.0)
    slab = finalize(slab, hold_bottom(slab))
    if site:
        tags = slab.get_tags()
        add_adsorbate(slab, element, 1.9 if site == "ontop" else 1.2, site)
        slab.set_tags(np.append(tags, 2))
    return slab


def test_emt_oracle(emt):
    assert emt.elements == frozenset({"Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au",
                                      "H", "C", "N", "O"})
    assert "C" not in emt.substrate_elements and "Pt" in emt.substrate_elements
    assert emt.version.startswith("ase ")
    with pytest.raises(OracleError, match="lacks Ti, Ru needed by the oxide"):
        emt.require(["O", "Ti", "Ru"], "the oxide")
    emt.require(["Pt", "O"], "Pt + O")  # covered: no error


def test_unknown_oracle():
    with pytest.raises(ConfigError, match="unknown oracle 'dft'"):
        load_oracle("dft")


@pytest.mark.parametrize("name,module", [("sevennet", "sevenn"), ("chgnet", "chgnet")])
def test_missing_ml_oracle_names_the_extra(monkeypatch, name, module):
    for mod in list(sys.modules):
        if mod == module or mod.startswith(module + "."):
            monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, module, None)  # makes "import module" fail
    with pytest.raises(OracleError, match=r"metalegnet\[oracle\]") as err:
        load_oracle(name)
    assert repr(module) in str(err.value)


def test_relax_keeps_every_frame(emt):
    result = relax(_pt111("fcc"), emt.calculator, RelaxConfig(fmax=0.05))
    assert result.converged and result.nsteps == len(result.frames) - 1 > 3
    energies = result.energies
    assert energies[-1] < energies[0]
    for frame in result.frames:
        assert isinstance(frame.calc, SinglePointCalculator)
        assert frame.get_forces().shape == (len(frame), 3)
    last = result.frames[-1]
    free = last.get_tags() != 0
    assert np.linalg.norm(last.get_forces()[free], axis=1).max() < 0.05
    # Held atoms do not move; raw forces on them are stored (non-zero).
    held = ~free
    assert np.allclose(last.positions[held], result.frames[0].positions[held])
    assert np.abs(last.get_forces(apply_constraint=False)[held]).max() > 1e-4


def test_step_cap_marks_unconverged(emt):
    result = relax(_pt111("ontop"), emt.calculator, RelaxConfig(fmax=1e-4, max_steps=3))
    assert not result.converged and result.nsteps == 3 and len(result.frames) == 4


def test_references(emt_refs):
    mol = emt_refs.molecules
    assert set(mol) == set(REFERENCE_MOLECULES)
    el = element_references(mol)
    assert el["H"] == pytest.approx(mol["H2"] / 2)
    assert el["O"] == pytest.approx(mol["H2O"] - mol["H2"])
    assert el["C"] == pytest.approx(mol["CO"] - el["O"])
    assert el["N"] == pytest.approx(mol["N2"] / 2)
    assert emt_refs.energy(["C", "O"]) == pytest.approx(mol["CO"])
    assert emt_refs.energy(["O", "H", "H"]) == pytest.approx(mol["H2O"])


def test_o_prefers_fcc_over_top_on_pt111_with_emt(emt, emt_refs):
    clean = relax(_pt111(), emt.calculator).final_energy
    e = {}
    for site in ("fcc", "ontop"):
        result = relax(_pt111(site), emt.calculator)
        assert result.converged
        e[site] = result.final_energy - clean - emt_refs.energy(["O"])
    assert e["fcc"] < e["ontop"] - 0.05


def test_sevennet_single_point():
    pytest.importorskip("sevenn")
    oracle = load_oracle("sevennet")
    assert "Mo" in oracle.elements and "Pt" in oracle.substrate_elements
    atoms = _pt111("fcc")
    atoms.calc = oracle.calculator
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    assert np.isfinite(energy) and -6.0 * len(atoms) < energy < 0.0  # eV, PBE-like scale
    assert forces.shape == (len(atoms), 3) and np.isfinite(forces).all()
