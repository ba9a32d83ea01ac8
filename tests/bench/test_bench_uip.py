"""The zero-shot column: gamenet-fg reference matching and scoring with a stub potential."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from metalegnet.bench import uip
from metalegnet.data.labels import Sample


class StubPotential:
    """E = -1 eV per atom, F = 0.1 eV/Å along x: answers known by hand."""

    def single_point(self, atoms):
        f = np.zeros((len(atoms), 3))
        f[:, 0] = 0.1
        return -1.0 * len(atoms), f


def test_gamenet_sid_names_its_slab_and_gas_molecule():
    assert uip._gamenet_parts("gamenet_fg/amides/ag-13X1-a") == (
        "gamenet_fg/metal_surfaces/ag-0000", "gamenet_fg/gas_amides/13X1")
    assert uip._gamenet_parts("gamenet_fg/group2/pt-2-butanol-b")[1] == \
        "gamenet_fg/gas_group2/2-butanol"


def test_zero_shot_adsorption_energy_and_forces_with_a_stub():
    slab, gas = Atoms("Pt4"), Atoms("CO")
    ads = Atoms("Pt4CO")
    ads.info["sid"] = "gamenet_fg/amides/pt-X-a"
    refs = {"gamenet_fg/metal_surfaces/pt-0000": slab, "gamenet_fg/gas_amides/X": gas}
    # E_ads = -6 - (-4) - (-2) = 0 eV against a label of 0.3 eV
    mae = uip.score("gamenet_eads", [Sample(ads, {"e_ads": 0.3})], StubPotential(),
                    references=refs)
    assert mae == pytest.approx(0.3)
    forces = np.zeros((6, 3))
    assert uip.score("forces", [Sample(ads, {"forces": forces})], StubPotential(),
                     force_atoms="all") == pytest.approx(0.1 / 3)


def test_availability_is_one_line():
    why = uip.available()
    assert why is None or ("sevenn" in why and "\n" not in why)
