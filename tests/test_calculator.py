"""MetaLegNetCalculator: agrees with the model, refuses a zero cell, runs an ASE optimiser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.optimize import BFGS

from metalegnet import LegNet, LegNetConfig, MetaLegNetCalculator
from metalegnet.data.graph import atoms_to_graph
from metalegnet.errors import DataError
from metalegnet.testing.structures import cluster, slab_with_adsorbate


def small_model(force_head="direct", variant="full"):
    torch.manual_seed(0)
    m = LegNet(LegNetConfig(variant=variant, force_head=force_head, cutoff=4.5, num_features=16,
                            num_blocks=2, voxel_sizes=(3.5, 7.0)))
    m.normalization.set(scale=0.5, shift_atom=-1.0)
    return m.eval()


@pytest.mark.parametrize("force_head", ["direct", "conservative"])
def test_calculator_agrees_with_model(force_head):
    model = small_model(force_head)
    atoms = slab_with_adsorbate()
    atoms.calc = MetaLegNetCalculator(model)
    graph = atoms_to_graph(atoms, 4.5)
    with torch.set_grad_enabled(force_head == "conservative"):
        out = model(graph)
    e_model = float(out.energy.detach()[0])
    assert atoms.get_potential_energy() == pytest.approx(e_model, rel=1e-6)
    assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(
        e_model, rel=1e-6)
    np.testing.assert_allclose(atoms.get_forces(apply_constraint=False),
                               out.forces.detach().numpy(), atol=1e-5)
    energies = atoms.get_potential_energies()
    assert energies.shape == (len(atoms),)
    assert energies.sum() == pytest.approx(atoms.get_potential_energy(), rel=1e-5)
    w = atoms.calc.results["importance"]
    assert w.shape == (len(atoms),) and w.max() == pytest.approx(1.0) and w.min() >= 0


def test_calculator_refuses_zero_cell():
    atoms = cluster()
    atoms.pbc = True  # periodic but the cell is zero
    atoms.calc = MetaLegNetCalculator(small_model())
    with pytest.raises(DataError, match="zero cell"):
        atoms.get_potential_energy()


def test_calculator_cluster_without_cell():
    atoms = cluster()
    atoms.calc = MetaLegNetCalculator(small_model("conservative"))
    assert np.isfinite(atoms.get_potential_energy())


def test_bfgs_runs_on_calculator():
    atoms = slab_with_adsorbate()
    atoms.calc = MetaLegNetCalculator(small_model("conservative", "vanilla"))
    e0 = atoms.get_potential_energy()
    opt = BFGS(atoms, logfile=None)
    opt.run(fmax=1e-5, steps=5)
    assert opt.nsteps >= 1
    assert atoms.get_potential_energy() <= e0 + 1e-6  # conservative forces: energy goes down
