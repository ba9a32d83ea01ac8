"""Small EMT-labelled tasks shared by the meta-learning tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import add_adsorbate, fcc111
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixAtoms

torch.set_num_threads(1)


def emt_slab(metal: str, adsorbate: str, seed: int, size=(2, 2, 2)) -> Atoms:
    """A jittered metal(111) slab with an adsorbate, EMT energy and forces, OC20 tags."""
    slab = fcc111(metal, size=size, vacuum=5.0)
    mol = Atoms(adsorbate, positions=[[0, 0, 0], [0.0, 0.0, 1.15]][:len(Atoms(adsorbate))])
    add_adsorbate(slab, mol, 1.9, "ontop")
    n_ads = len(mol)
    tags = np.ones(len(slab), dtype=int)
    tags[slab.positions[:, 2] < slab.positions[:, 2].min() + 0.5] = 0
    tags[-n_ads:] = 2
    slab.set_tags(tags)
    slab.set_constraint(FixAtoms(indices=np.where(tags == 0)[0]))
    rng = np.random.default_rng(seed)
    slab.positions[tags > 0] += rng.normal(scale=0.12, size=(int((tags > 0).sum()), 3))
    slab.calc = EMT()
    e, f = slab.get_potential_energy(), slab.get_forces()
    slab.calc = SinglePointCalculator(slab, energy=e, forces=f)
    slab.info.update({"surface": metal, "adsorbate": adsorbate,
                      "sid": f"{metal}-{adsorbate}-{seed}"})
    return slab


@pytest.fixture(scope="session")
def emt_tasks() -> list[Atoms]:
    """4 (surface, adsorbate) tasks x 6 structures."""
    out = []
    for metal, ads in (("Cu", "CO"), ("Pt", "CO"), ("Cu", "O"), ("Au", "CO")):
        out += [emt_slab(metal, ads, seed) for seed in range(6)]
    return out
