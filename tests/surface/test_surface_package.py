"""The surface package is the one home of placement, sites, relaxation and anomalies."""

from __future__ import annotations

import numpy as np
from ase.build import add_adsorbate, fcc111
from ase.calculators.emt import EMT

import metalegnet.data.generate as generate
from metalegnet import surface
from metalegnet.data.generate import trajectory


def test_generator_uses_the_surface_package():
    assert generate.place_adsorbate is surface.place_adsorbate
    assert generate.relax is surface.relax
    assert trajectory.detect_anomalies is surface.detect_anomalies
    assert trajectory.classify_site is surface.classify_site


def test_height_solver_touches_at_covalent_contact():
    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    top = slab.positions[np.argmax(slab.positions[:, 2])]
    ads = np.array([[top[0], top[1], top[2] + 0.3]])
    h = surface.solve_height(ads, np.array([8]), slab.positions, slab.numbers,
                             np.array([0.0, 0.0, 1.0]), gap=0.1, min_height=0.5)
    from ase.data import covalent_radii
    want = covalent_radii[8] + covalent_radii[78] + 0.1
    assert abs(ads[0, 2] + h - top[2] - want) < 1e-9


def test_relax_then_no_anomaly_for_o_on_pt_fcc():
    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    slab.set_tags(np.where(slab.positions[:, 2] > slab.positions[:, 2].max() - 0.5, 1, 0))
    add_adsorbate(slab, "O", 1.2, "fcc")
    tags = slab.get_tags()
    tags[-1] = 2
    slab.set_tags(tags)
    result = surface.relax(slab, EMT(), surface.RelaxConfig(fmax=0.1, max_steps=30))
    assert result.final_energy <= result.energies[0] + 1e-9
    assert surface.classify_site(result.frames[-1], len(slab) - 1) == "fcc"
    assert surface.detect_anomalies(result.frames[0], result.frames[-1], None) == []
